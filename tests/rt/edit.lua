-- edit.lua: a steady 997 Hz tone through gain node `a`; node `b` (-6 dB) waits unconnected.
-- The live-edit test moves the tone from a to b and changes a parameter while it plays.
local g = ...
local tone = g:osc{ name = "tone", freq = 997, gain = -9, start = 0.2, attack = 0 }
local a = g:gain{ name = "a" }
local b = g:gain{ name = "b", gain = -6 }
local _ = tone >> a >> g.output
_ = tone >> b
