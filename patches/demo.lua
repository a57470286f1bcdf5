-- demo.lua: 24 seconds of music made only from mixgraph's built-in sources.
--
--   mixgraph render patches/demo.lua -o demo.wav        (or: make demo)
--   mixgraph render patches/demo.lua -o demo.wav --set bpm=110 --set seed=7
--
-- A-minor loop (Am F C G) at 100 BPM: a detuned saw pad through a low-pass filter, a plucked
-- triangle bass, a square arpeggio through a dotted-eighth delay, drums from sines and noise
-- on a compressed bus, a hall reverb send, and an EQ and glue compressor on the master. Every
-- note is its own source node with a start time and duration; the graph has a few hundred
-- nodes.

local g, args = ...
local bpm = args.bpm or 100
local seed = args.seed or 1
local beat = 60 / bpm
g.tempo = bpm
local bars = 10

local function hz(midi) return 440 * 2 ^ ((midi - 69) / 12) end

-- buses: every note of a part sums into the part's bus input
local master = g:mix{ inputs = 6, name = "master" }
local function bus(name, gain, pan, inserts)
  local b = g:gain{ name = name, gain = gain }
  local last = b
  for _, n in ipairs(inserts or {}) do last = last >> n end
  local _ = last >> g:pan{ name = name .. "_pan", pan = pan or 0 } >> master
  return b
end
local reverb = g:gain{ name = "reverb_send" }
local _ = reverb >> g:reverb{ name = "hall", preset = "hall", decay = 2.6, mix = 100 }
          >> g:gain{ name = "reverb_return", gain = -9 } >> master
local pad = bus("pad", -6, 0, { g:filter{ name = "pad_lpf", type = "lowpass", freq = 2200,
                                          q = 0.8 } })
local bass = bus("bass", -2)
local drums = bus("drums", 1, 0, { g:compressor{ name = "drum_comp", threshold = -20,
                                                 ratio = 3, attack = 5, release = 80 } })
local hats = bus("hats", -4, 0.35, { g:filter{ type = "highpass", freq = 5000 } })
pad:to(reverb)

-- the arpeggio goes through a dotted-eighth delay with feedback, then to the reverb
local arp = g:gain{ name = "arp", gain = -4 }
local echo = g:delay{ name = "echo", note = "1/8.", feedback = 40, damp = 3500,
                      mix = 35 }
local _ = arp >> echo >> g:pan{ name = "arp_pan", pan = -0.3 } >> master
echo:to(reverb)

local _ = master >> g:eq{ name = "master_eq", bands = 2, freq1 = 90, gain1 = 1.5,
                          freq2 = 9000, gain2 = 2 }
          >> g:compressor{ name = "glue", threshold = -16, ratio = 2, attack = 30,
                           release = 200 }
          >> g:gain{ name = "level", gain = 3 } >> g.output

-- chords: root (MIDI) and the minor/major third of each
local chords = {
  { 57, 60, 64 }, -- Am
  { 53, 57, 60 }, -- F
  { 48, 52, 55 }, -- C
  { 55, 59, 62 }, -- G
}

for bar = 0, bars - 1 do
  local t0 = bar * 4 * beat
  local chord = chords[bar % 4 + 1]
  -- pad: two slightly detuned saws per chord tone, panned apart
  for i, m in ipairs(chord) do
    for side = -1, 1, 2 do
      local o = g:osc{ shape = "saw", freq = hz(m) * (1 + side * 0.003), gain = -27,
                       start = t0, duration = 4 * beat + 0.3, attack = 400, release = 300 }
      local _ = o >> g:pan{ pan = side * 0.6 * i / 3 } >> pad
    end
  end
  if bar >= 2 then
    -- bass: root on every beat, octave up on the off-beat of beat 4
    for b = 0, 3 do
      g:osc{ shape = "triangle", freq = hz(chord[1] - 24), gain = -6,
                     start = t0 + b * beat, duration = beat * 0.9, decay = 1.2 }:to(bass)
    end
    g:osc{ shape = "triangle", freq = hz(chord[1] - 12), gain = -9,
                   start = t0 + 3.5 * beat, duration = beat * 0.45, decay = 0.6 }:to(bass)
    -- drums: kick on 1 and 3, snare on 2 and 4, hats on eighths
    for b = 0, 3 do
      local t = t0 + b * beat
      if b % 2 == 0 then
        g:osc{ freq = 52, gain = -9, start = t, duration = 0.45, decay = 0.35,
                        attack = 1 }:to(drums)
        g:noise{ color = "white", gain = -28, start = t, duration = 0.02,
                          attack = 0, release = 15, seed = seed + bar * 8 + b }:to(drums)
      else
        g:noise{ color = "pink", gain = -14, start = t, duration = 0.25, decay = 0.18,
                          attack = 0, seed = seed + 100 + bar * 8 + b }:to(drums)
        g:osc{ shape = "triangle", freq = 185, gain = -14, start = t,
                        duration = 0.15, decay = 0.1, attack = 0 }:to(drums)
      end
      for h = 0, 1 do
        g:noise{ gain = h == 0 and -26 or -31, start = t + h * beat / 2,
                         duration = 0.06, decay = 0.04, attack = 0,
                         seed = seed + 1000 + bar * 8 + b * 2 + h }:to(hats)
      end
    end
  end
  if bar >= 4 and bar < bars - 1 then
    -- arpeggio in eighths over two octaves
    local pattern = { 1, 2, 3, 2, 1, 3, 2, 3 }
    for k = 0, 7 do
      local m = chord[pattern[k + 1]] + 12 + (k >= 4 and 12 or 0)
      g:osc{ shape = "square", freq = hz(m), gain = -24,
                    start = t0 + k * beat / 2, duration = beat * 0.45, decay = 0.5 }:to(arp)
    end
  end
end

-- the final chord rings out
for _, m in ipairs(chords[1]) do
  g:osc{ shape = "saw", freq = hz(m), gain = -25, start = bars * 4 * beat,
                duration = 3, attack = 20, decay = 2.5, release = 800 }:to(pad)
end
g:osc{ shape = "triangle", freq = hz(33), gain = -6, start = bars * 4 * beat,
               duration = 3, decay = 2.5, release = 500 }:to(bass)
