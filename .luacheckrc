-- luacheck settings for src/lua: scripts run inside Redis (Lua 5.1 with Redis's globals).
std = "lua51"
read_globals = { "redis", "KEYS", "ARGV", "cjson", "cmsgpack", "bit", "struct" }
max_line_length = 100
