-- live_mix.lua: the real-time benchmark mix of bench/bench_live.sh. N stereo tracks (white
-- noise sources, so no disk I/O competes), each through high-pass 80 Hz, a peaking EQ, a
-- compressor and pan, with a post-fader send to a hall reverb bus, into a master chain
-- (low and high shelves, glue compressor, and the true-peak limiter when the build has one).
--   --set tracks=N (default 8)
local mg = require "mixgraph"
local g, args = ...
local n = args.tracks or 8
local master = { g:eq{ bands = 2, type1 = "lowshelf", freq1 = 100, gain1 = 1,
                       type2 = "highshelf", freq2 = 10000, gain2 = 1.5 },
                 g:compressor{ ratio = 2, threshold = -14, attack = 30, release = 200 } }
for _, d in ipairs(mg.types()) do
  if d.name == "limiter" then master[#master + 1] = g:limiter{ ceiling = -1 } end
end
local mx = mg.mixer(g, { inserts = master })
local verb = mx:bus{ name = "verb", gain = -6, inserts = { g:reverb{ preset = "hall", mix = 100 } } }
for i = 1, n do
  mx:track{ name = "t" .. i,
            source = g:noise{ channels = 2, seed = i, gain = -24 },
            gain = -9, pan = ((i - 1) % 9 - 4) / 4,
            inserts = { g:filter{ type = "highpass", freq = 80 },
                        g:eq{ bands = 1, type1 = "peak", freq1 = 300 + 97 * i, q1 = 1, gain1 = 3 },
                        g:compressor{ ratio = 4, threshold = -18, attack = 10, release = 100 } },
            sends = { { bus = verb, gain = -12 } } }
end
