-- parity.lua: the live-versus-offline test patch (tests/rt/test_play_jack.sh). A 997 Hz tone
-- after 0.2 s of silence (so the capture client is connected before the first sound), through
-- a filter, a compressor and a reverb send; 2 s in all.
local g = ...
local tone = g:osc{ name = "tone", freq = 997, gain = -9, start = 0.2, attack = 0 }
local mix = g:mix{ name = "mix", inputs = 2 }
local comp = g:compressor{ name = "comp", threshold = -20, ratio = 3 }
local _ = tone >> g:filter{ name = "lpf", type = "lowpass", freq = 5000 } >> comp >> mix
_ = comp >> g:reverb{ name = "verb", mix = 100 } >> g:gain{ gain = -12 } >> mix.in2
_ = mix >> g.output
g.duration = 2
