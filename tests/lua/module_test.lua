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
-- dither option: a bad name is an error, the good ones render
assert(g:render(path, { bits = 16, dither = "shaped" }))
assert(g:render(path, { bits = 24, dither = "none" }))
os.remove(path)
assert(not pcall(g.render, g, path, { bits = 16, dither = "pink" }), "bad dither accepted")
-- the mastering nodes: numbered band parameters, meters, names of choices
local g2 = mg.graph{}
local mb = g2:multiband{ bands = 4 }
mb.bands[2].ratio = 3
assert(mb.ratio2 == 3 and mb.xover3 == 6000, "multiband band parameters")
local lim = g2:limiter{ ceiling = -1, lookahead = 3 }
assert(lim.ceiling == -1 and lim.lookahead == 3, "limiter parameters")
local sat = g2:saturate{ curve = "asymmetric", oversample = "8" }
assert(sat.curve == "asymmetric", "saturate curve " .. tostring(sat.curve))
local st = g2:stereo{ width = 1.4, mode = "width" }
assert(math.abs(st.width - 1.4) < 1e-6, "stereo width")
local types = mg.types()
assert(#types >= 8, "node types")
print("module_test: ok")
