-- mixer_test.lua: the Lua mixer layer behaves as a console, checked by measured levels:
-- fader and pan, mute (including sends), solo with solo-safe effect returns and solo through
-- group buses, pre- and post-fader sends. Run by CTest through the stock lua5.4 interpreter.
local mg = require "mixgraph"

local t = require "check"
local check = t.check
local function near(a, b, tol, msg) t.near(a, b, tol, msg, true) end
local SILENT = -120 -- anything below counts as silence

-- Two tone tracks (a: 1 kHz -6 dB peak; b: 1 kHz -12 dB peak), a group bus for b, an
-- effect-return bus fed by a post-fader send from a and a pre-fader send from b.
local function setup()
  local g = mg.graph{ rate = 48000, block = 64 }
  local mx = mg.mixer(g)
  local fx = mx:bus{ name = "fx" }
  local group = mx:bus{ name = "group" }
  local a = mx:track{ name = "a", source = g:osc{ freq = 1000, gain = -6 }, pan = -1,
                      sends = { { bus = fx, gain = 0 } } }
  local b = mx:track{ name = "b", source = g:osc{ freq = 1000, gain = -12 }, pan = 1, to = group,
                      sends = { { bus = fx, gain = 0, pre = true } } }
  return g, mx, a, b, fx, group
end

-- level of a alone (hard left, power law: -6 dB peak at full left)
do
  local g, mx, a, b, fx = setup()
  fx.mute = true
  local m = g:measure(0.2)
  near(m.peak[1], -6, 0.05, "a hard left at its source level")
  near(m.peak[2], -12, 0.05, "b hard right at its source level")
  a.gain = -10
  m = g:measure(0.2)
  near(m.peak[1], -16, 0.05, "fader -10 dB on a")
  a.pan = 0
  m = g:measure(0.2)
  near(m.peak[1], -16 - 3.0103, 0.05, "a centred: -3.01 dB per side (power law)")
end

-- mute cuts the channel and its sends
do
  local g, mx, a, b, fx = setup()
  b.mute, fx.mute = true, true
  local m = g:measure(0.2)
  check(m.peak[2] < SILENT, "muted b is silent on the right (" .. m.peak[2] .. ")")
  -- with a muted, fx carries only b's pre-fader send (a's post-fader send is cut too)
  b.mute, fx.mute = false, false
  a.mute = true
  m = g:measure(0.2)
  near(m.peak[1], -12 - 3.0103, 0.06, "a muted: left carries only b's pre-fader send via fx")
end

-- pre- versus post-fader sends
do
  local g, mx, a, b, fx = setup()
  a.mute, b.mute = true, true
  fx.mute = false
  a.mute = false
  a.gain = -144                       -- fader down: a's post-fader send stops
  local m = g:measure(0.2)
  check(m.peak[1] < SILENT and m.peak[2] < SILENT, "post-fader send follows the fader")
  a.mute, b.mute = true, false
  b.gain = -144                       -- fader down: b's pre-fader send continues
  m = g:measure(0.2)
  near(m.peak[1], -12 - 3.0103, 0.06, "pre-fader send ignores the fader")
end

-- solo: others muted, effect returns (buses) stay, solo through a group bus
do
  local g, mx, a, b, fx, group = setup()
  fx.mute = true
  a.solo = true
  local m = g:measure(0.2)
  near(m.peak[1], -6, 0.05, "soloed a is heard")
  check(m.peak[2] < SILENT, "b is muted by a's solo")
  fx.mute = false
  m = g:measure(0.2)
  check(m.peak[2] > -20, "the effect return stays audible during a solo (solo-safe)")
  a.solo = false
  group.solo = true
  fx.mute = true
  m = g:measure(0.2)
  near(m.peak[2], -12, 0.05, "b is heard when its group bus is soloed")
  check(m.peak[1] < SILENT, "a is muted by the group solo")
end

t.done("mixer_test")
