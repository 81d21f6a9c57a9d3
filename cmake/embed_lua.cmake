# SPDX-License-Identifier: MIT
# Writes OUT, a C header holding each Lua script of SCRIPTS (a ;-list of paths) as
#   static const char fd_lua_<name>[] = {...bytes..., 0};
# so the scripts stay plain .lua source files (linted with luacheck, runnable alone) and the
# binaries carry them with nothing read from the filesystem at run time. Run by add_custom_command
# in src/CMakeLists.txt: cmake -DOUT=... -DSCRIPTS=... -P embed_lua.cmake
set(text "// Generated from src/lua/*.lua by cmake/embed_lua.cmake: do not edit.\n")
string(APPEND text "#ifndef FUNNELD_LUA_SCRIPTS_H\n#define FUNNELD_LUA_SCRIPTS_H\n\n")
foreach(path ${SCRIPTS})
  get_filename_component(name ${path} NAME_WE)
  file(READ ${path} hex HEX)
  string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
  string(APPEND text "/* src/lua/${name}.lua */\n")
  string(APPEND text "static const char fd_lua_${name}[] = {\n    ${bytes}0x00};\n\n")
endforeach()
string(APPEND text "#endif\n")
file(WRITE ${OUT}.tmp "${text}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
file(REMOVE ${OUT}.tmp)
