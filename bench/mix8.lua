-- mix8.lua: the benchmark mix of bench/bench_mix.sh. Eight stereo stems, each through
-- high-pass 80 Hz, a peaking EQ, a compressor (ratio 4, threshold -18 dB, attack 10 ms,
-- release 100 ms), fader and pan, with a post-fader send to a reverb bus, into a stereo bus.
--   --set dir=DIR  (stems DIR/stem1.wav .. stem8.wav)
local mg = require "mixgraph"
local g, args = ...
local mx = mg.mixer(g)
local verb = mx:bus{ name = "verb", gain = -6, inserts = { g:reverb{ preset = "hall", mix = 100 } } }
for i = 1, 8 do
  mx:track{ name = "t" .. i, source = g:file{ path = args.dir .. "/stem" .. i .. ".wav" },
            gain = -9, pan = (i - 4.5) / 4,
            inserts = { g:filter{ type = "highpass", freq = 80 },
                        g:eq{ bands = 1, type1 = "peak", freq1 = 1000 + 300 * i, q1 = 1, gain1 = 3 },
                        g:compressor{ ratio = 4, threshold = -18, attack = 10, release = 100 } },
            sends = { { bus = verb, gain = -12 } } }
end
