-- luacheck settings for the Redis scripts of src/lua (run: luacheck src/lua; CI runs it). The
-- scripts run in Redis's Lua 5.1, which provides these globals.
std = "lua51"
globals = {"redis", "KEYS", "ARGV", "cjson", "cmsgpack", "bit", "struct"}
max_line_length = false
