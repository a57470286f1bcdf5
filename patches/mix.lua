-- mix.lua: a small mix built with the mixer layer, from built-in sources only.
--
--   mixgraph render patches/mix.lua -o mix.wav
--   mixgraph render patches/mix.lua -o mix.wav --set duck=0      (no sidechain ducking)
--
-- Five tracks at 124 BPM: kick, hats, a bass ducked under the kick by a sidechain
-- compressor, a chord pad and a plucked lead with a tempo-synced delay. Each track has EQ or
-- filters and compression as inserts; the pad and lead send to a hall reverb; the master bus
-- has a gentle EQ and a glue compressor.

local mg = require "mixgraph"
local g, args = ...
local bpm = args.bpm or 124
local beat = 60 / bpm
g.tempo = bpm
local bars = args.bars or 8
local duck = args.duck ~= 0

local function hz(midi) return 440 * 2 ^ ((midi - 69) / 12) end

-- an instrument: a sum point fed by one source node per note
local function instrument(name, notes)
  local sum = g:gain{ name = name }
  for _, n in ipairs(notes) do n:to(sum) end
  return sum
end

local mx = mg.mixer(g, {
  gain = 5,
  inserts = {
    g:eq{ name = "master_eq", bands = 2, gain1 = 1, freq1 = 80, gain2 = 1.5, freq2 = 10000 },
    g:compressor{ name = "glue", threshold = -14, ratio = 2, attack = 30, release = 200,
                  knee = 6, auto_makeup = "off", makeup = 1 },
  },
})

local verb = mx:bus{ name = "verb", gain = -4,
                     inserts = { g:reverb{ preset = "hall", decay = 2.2, mix = 100 } } }

-- kick: a decaying 50 Hz sine on every beat
local kicks = {}
for b = 0, bars * 4 - 1 do
  kicks[#kicks + 1] = g:osc{ freq = 50, gain = -2, start = b * beat, duration = 0.4,
                             decay = 0.3, attack = 1 }
end
local kick = mx:track{ name = "kick", source = instrument("kick_notes", kicks), gain = -3,
                       inserts = { g:filter{ type = "highpass", freq = 30 } } }

-- hats: short white-noise bursts on the off-beats, high-passed
local hat_notes = {}
for b = 0, bars * 4 - 1 do
  hat_notes[#hat_notes + 1] = g:noise{ gain = -20, start = (b + 0.5) * beat, duration = 0.05,
                                       decay = 0.04, attack = 0, seed = 100 + b }
end
mx:track{ name = "hats", source = instrument("hat_notes", hat_notes), gain = -8, pan = 0.3,
          inserts = { g:filter{ type = "highpass", freq = 6000, slope = 24 } } }

-- bass: saw eighths through a low-pass, compressed by the kick (sidechain ducking)
local roots = { 45, 41, 48, 43 } -- A F C G
local bass_notes = {}
for bar = 0, bars - 1 do
  for e = 0, 7 do
    bass_notes[#bass_notes + 1] = g:osc{ shape = "saw", freq = hz(roots[bar % 4 + 1] - 12),
                                         gain = -10, start = (bar * 4 + e / 2) * beat,
                                         duration = beat * 0.45, attack = 3 }
  end
end
local duck_comp = g:compressor{ name = "bass_duck", threshold = -30, ratio = duck and 8 or 1,
                                attack = 2, release = 120, knee = 0 }
mx:track{ name = "bass", source = instrument("bass_notes", bass_notes), gain = -4,
          inserts = { g:filter{ type = "lowpass", freq = 900, q = 0.9 }, duck_comp } }
local _ = kick.fader >> duck_comp.sidechain

-- pad: detuned saw chords, EQ'd, compressed, sent to the reverb
local chords = { { 57, 60, 64 }, { 53, 57, 60 }, { 48, 52, 55 }, { 55, 59, 62 } }
local pad_notes = {}
for bar = 0, bars - 1 do
  for _, m in ipairs(chords[bar % 4 + 1]) do
    for _, detune in ipairs({ 0.997, 1.003 }) do
      pad_notes[#pad_notes + 1] = g:osc{ shape = "saw", freq = hz(m) * detune, gain = -24,
                                         start = bar * 4 * beat, duration = 4 * beat + 0.2,
                                         attack = 300, release = 200 }
    end
  end
end
mx:track{ name = "pad", source = instrument("pad_notes", pad_notes), gain = -6, pan = -0.2,
          inserts = { g:eq{ bands = 3, gain1 = -6, freq1 = 200, type2 = "peak", freq2 = 2500,
                            gain2 = -3, q2 = 1.2, gain3 = -4 },
                      g:compressor{ threshold = -24, ratio = 3, attack = 20, release = 250 } },
          sends = { { bus = verb, gain = -6 } } }

-- lead: plucked square arpeggio in the second half, with a dotted-eighth delay
local lead_notes = {}
local pattern = { 0, 2, 1, 2, 0, 2, 1, 2 }
for bar = bars // 2, bars - 1 do
  local ch = chords[bar % 4 + 1]
  for e = 0, 7 do
    lead_notes[#lead_notes + 1] = g:osc{ shape = "square", freq = hz(ch[pattern[e + 1] + 1] + 24),
                                         gain = -22, start = (bar * 4 + e / 2) * beat,
                                         duration = beat * 0.4, decay = 0.35 }
  end
end
mx:track{ name = "lead", source = instrument("lead_notes", lead_notes), gain = -5, pan = 0.25,
          inserts = { g:filter{ type = "lowpass", freq = 5000 },
                      g:delay{ note = "1/8.", feedback = 35, mix = 30, damp = 4000 } },
          sends = { { bus = verb, gain = -10 } } }

-- let the reverb ring out after the last bar
g.duration = bars * 4 * beat + 2.5
