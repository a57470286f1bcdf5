-- algorithmic_mix.lua: an arrangement written by code, rendered sample-accurately.
--
--   mixgraph render patches/algorithmic_mix.lua -o algo.wav
--   mixgraph render patches/algorithmic_mix.lua -o algo.wav --seed 7 --stems stems/
--
-- The patch decides, in Lua, the song form (sections picked from a seeded random walk), the
-- chords, the bass line, the drum hits and which parts play where; every change is a
-- parameter event on its exact sample: notes are `set` events on oscillator frequencies, drum
-- hits are `set` + `target` envelopes on gains, parts mute and unmute with short ramps, the
-- pad's low-pass sweeps with `exp_to` and `scurve_to`, reverb and echo sends open and close
-- with `linear_to`, the hats pan by a Lua function (`fn`) and an LFO modulates the pad
-- filter's resonance at audio rate, and each break patches a slap echo into the graph and out
-- again (`g:at` edits, crossfaded). A different --seed gives a different song; the same seed
-- gives the same file, byte for byte. With --stems, each bus (drums, verb, echo) is also
-- written to its own file.

local g, args = ...
local mg = require "mixgraph"
local rnd = mg.random

local bpm = args.bpm or 116
g:tempo(bpm)

local function hz(midi) return 440 * 2 ^ ((midi - 69) / 12) end
local function bar(b) return g:bars(b) end          -- seconds where bar b (0-based) starts
local function beat(b) return g:beats(b) end

-- ---- the form: intro, a seeded walk through verse / chorus / break, outro ----
local form = { { name = "intro", bars = 4 } }
local kinds = { "verse", "chorus", "break" }
local last = "intro"
for _ = 1, 4 do
  local k
  repeat k = kinds[rnd(#kinds)] until k ~= last
  form[#form + 1] = { name = k, bars = (k == "break") and 2 or 4 }
  last = k
end
form[#form + 1] = { name = "outro", bars = 4 }
local start = 0
for _, s in ipairs(form) do
  s.first, start = start, start + s.bars
end
local total_bars = start
-- the last section slows down a little: a tempo change at its first bar
g:tempo(bpm - 8, { bar = form[#form].first })

-- which parts play in each kind of section
local plays = {
  intro  = { pad = true },
  verse  = { pad = true, bass = true, kick = true, hats = true },
  chorus = { pad = true, bass = true, kick = true, hats = true, lead = true },
  ["break"] = { pad = true, hats = true },
  outro  = { pad = true, bass = true },
}

-- ---- chords: a seeded choice of progression in A minor ----
local progressions = {
  { { 57, 60, 64 }, { 53, 57, 60 }, { 48, 52, 55 }, { 55, 59, 62 } }, -- Am F C G
  { { 57, 60, 64 }, { 50, 53, 57 }, { 52, 55, 59 }, { 57, 60, 64 } }, -- Am Dm Em Am
  { { 53, 57, 60 }, { 55, 59, 62 }, { 57, 60, 64 }, { 57, 60, 64 } }, -- F G Am Am
}
local prog = progressions[rnd(#progressions)]
local function chord(b) return prog[b % #prog + 1] end

-- ---- the console ----
local mx = mg.mixer(g, { inserts = { g:compressor{ threshold = -14, ratio = 2, attack = 20,
                                                   release = 150, name = "glue" } } })
local verb = mx:bus{ name = "verb", gain = -4,
                     inserts = { g:reverb{ preset = "hall", decay = 2.8, mix = 100 } } }
local echo = mx:bus{ name = "echo", gain = -8,
                     inserts = { g:delay{ note = "1/8.", feedback = 45, damp = 3000,
                                          mix = 100 } } }
local drums = mx:bus{ name = "drums", gain = -1,
                      inserts = { g:compressor{ threshold = -18, ratio = 3, attack = 4,
                                                release = 90 } } }

-- pad: three saws into a sweeping low-pass, resonance wobbled by an LFO at audio rate
local voices = {}
local pad_sum = g:mix{ inputs = 3, name = "pad_sum" }
for i = 1, 3 do
  voices[i] = g:osc{ shape = "saw", gain = -22, name = "pad_v" .. i }
  voices[i]:to(pad_sum)
end
local pad_lpf = g:filter{ type = "lowpass", freq = 300, q = 0.9, name = "pad_lpf" }
local lfo = g:osc{ freq = 0.25, gain = 0, name = "pad_lfo" }
pad_lpf:param("q"):mod(lfo, 0.5)
local pad = mx:track{ name = "pad", source = pad_sum, inserts = { pad_lpf }, gain = -4,
                      sends = { { bus = verb, gain = -30 } } }

-- bass: a triangle with a plucked envelope
local bass_osc = g:osc{ shape = "triangle", gain = -144, name = "bass_osc" }
local bass = mx:track{ name = "bass", source = bass_osc, gain = -3, pan = 0,
                       sends = { { bus = echo, gain = -60 } } }

-- kick: a sine with a falling pitch and a fast decay; hats: high-passed noise
local kick_osc = g:osc{ freq = 50, gain = -144, name = "kick_osc" }
local kick = mx:track{ name = "kick", source = kick_osc, to = drums, gain = 0 }
local hat_src = g:noise{ color = "white", gain = -144, name = "hat_noise" }
local hats = mx:track{ name = "hats", source = hat_src, to = drums, gain = -10,
                       inserts = { g:filter{ type = "highpass", freq = 7000 } },
                       sends = { { bus = echo, gain = -60 } } }

-- lead: a square that plays a seeded melody in choruses
local lead_osc = g:osc{ shape = "square", gain = -144, name = "lead_osc" }
local lead = mx:track{ name = "lead", source = lead_osc, gain = -12, pan = 0.3,
                       inserts = { g:filter{ type = "lowpass", freq = 3000 } },
                       sends = { { bus = verb, gain = -18 }, { bus = echo, gain = -14 } } }

-- ---- writing the parts ----
local strips = { pad = pad, bass = bass, kick = kick, hats = hats, lead = lead }
local on = {}
for name in pairs(strips) do on[name] = false end

-- mute or unmute a strip at time t with a 20 ms ramp (no click)
local function switch(name, want, t)
  if on[name] == want then return end
  local p = strips[name].mute_node:param("gain")
  p:set(want and -144 or 0, t):linear_to(want and 0 or -144, t + 0.02)
  on[name] = want
end
for name in pairs(strips) do strips[name].mute_node.gain = -144 end

local pad_f = pad_lpf:param("freq")
local verb_send = pad.sends[1].node:param("gain")
local echo_bass = bass.sends[1].node:param("gain")
local echo_hats = hats.sends[1].node:param("gain")
local hat_density = 0.5 + 0.4 * rnd()      -- chance of an off-beat hat

for _, s in ipairs(form) do
  local t0, t1 = bar(s.first), bar(s.first + s.bars)
  for name in pairs(strips) do switch(name, plays[s.name][name] or false, t0) end
  -- the pad filter: sweep up through intros, open in choruses, close in breaks
  if s.name == "intro" then
    pad_f:set(300, t0):exp_to(2500, t1)
  elseif s.name == "chorus" then
    pad_f:exp_to(6000, t0 + 0.5)
  elseif s.name == "break" then
    pad_f:scurve_to(500, t1)
  else
    pad_f:exp_to(1800 + 800 * rnd(), t0 + 1)
  end
  -- the reverb send opens in breaks and the outro, closes otherwise
  local wet = (s.name == "break" or s.name == "outro") and -6 or -30
  verb_send:linear_to(wet, t0 + 0.5)
  for b = s.first, s.first + s.bars - 1 do
    local tb = bar(b)
    local notes = chord(b)
    for i = 1, 3 do voices[i]:param("freq"):set(hz(notes[i] + (i == 1 and 0 or 0.07 * i)), tb) end
    -- the echo send on the bass and hats throws on the last bar of a section
    local throw = (b == s.first + s.bars - 1) and -10 or -60
    echo_bass:set(throw, tb)
    echo_hats:set(throw, tb)
    for e = 0, 7 do -- eighth notes
      local t = beat(b * 4 + e / 2)
      if plays[s.name].bass and (e % 2 == 0 or rnd() < 0.3) then
        local root = notes[1] - 24 + (e == 6 and 7 or 0)
        bass_osc:param("freq"):set(hz(root), t)
        bass_osc:param("gain"):set(-6, t):target(-60, t, 0.09)
      end
      if plays[s.name].kick and (e % 4 == 0 or (e == 7 and rnd() < 0.25)) then
        kick_osc:param("freq"):set(160, t):exp_to(48, t + 0.09)
        kick_osc:param("gain"):set(0, t):target(-90, t + 0.01, 0.09)
      end
      if plays[s.name].hats and (e % 2 == 1 or rnd() < hat_density) then
        hat_src:param("gain"):set(e % 2 == 1 and -6 or -14, t):target(-100, t, 0.025)
      end
      if plays[s.name].lead and rnd() < 0.6 then
        local n = notes[rnd(3)] + 12
        lead_osc:param("freq"):set(hz(n), t)
        lead_osc:param("gain"):set(-8, t):target(-70, t, 0.18)
      end
    end
  end
end

-- the hats wander across the stereo field, drawn by a function at 50 Hz
local phase = rnd() * 2 * math.pi
hats.panner:param("pan"):fn(function(t) return 0.5 * math.sin(phase + t * 0.9) end,
                            { rate = 50 })

-- graph edits at section boundaries (g:at): each break patches a slap echo after the pad,
-- with a seeded delay time, and takes it out when the break ends; the connections crossfade
for i, s in ipairs(form) do
  if s.name == "break" then
    local name, ms = "slap" .. i, 110 + 60 * rnd()
    g:at(bar(s.first), function()
      local slap = g:delay{ name = name, time = ms, feedback = 40, damp = 4000, mix = 100 }
      local _ = pad.out >> slap >> g:gain{ name = name .. "_ret", gain = -10 } >> mx.master.input
    end)
    g:at(bar(s.first + s.bars), function()
      g:find(name):remove()
      g:find(name .. "_ret"):remove()
    end)
  end
end

g.duration = bar(total_bars) + 2.5 -- let the reverb ring out
