-- module_test.lua: `require "mixgraph"` from the stock lua5.4 interpreter, build a graph and
-- render it. Run by CTest with LUA_CPATH pointing at build/lua/?.so; arg[1] is a temp dir.
local mg = require "mixgraph"
assert(type(mg.version) == "string", "version")
local g = mg.graph{ rate = 44100, block = 128 }
local o = g:osc{ freq = 441, gain = -6, duration = 0.5 }
local _ = o >> g:gain{ gain = -6 } >> g.output
assert(math.abs(g:length() - 0.5) < 1e-9, "length " .. g:length())
local path = (arg[1] or ".") .. "/module_test.wav"
local ok, err = g:render(path, { bits = 16 })
assert(ok, err)
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
os.remove(path)
-- 44-byte header, 0.5 s x 44100 x 2 ch x 2 bytes
assert(size == 44 + 22050 * 4, "size " .. size)
-- environmental failures return nil, message
local ok2, err2 = g:render("/nonexistent-dir/x.wav")
assert(ok2 == nil and err2:find("nonexistent"), tostring(err2))
local types = mg.types()
assert(#types >= 8, "node types")
print("module_test: ok")
