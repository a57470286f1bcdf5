-- tempo_match.lua: two loops at different tempos and keys, brought to one tempo and key and
-- mixed. Loop A is a 120 BPM groove in A minor (drums, bass, chords i-iv-V-i); loop B a 96 BPM
-- plucked riff in C minor with its own kick and rim, recorded 0.24 s late. B is detected (tempo
-- and key), stretched to A's tempo, transposed to A's key by the smallest step (C minor ->
-- A minor: -3 semitones), aligned to A's onsets (its late start is skipped, so it also loops
-- in time), and both play twice through a small mixer.
--
--   mixgraph render patches/tempo_match.lua -o tempo_match.wav
--
-- The loops are synthesized here into a folder (--set dir=PATH; default: a temporary one), so
-- the repository holds no audio. `--set only_loops=true` writes them and stops.
local mg = require "mixgraph"
local g, args = ...
args = args or {}

local RATE = 48000

-- ---- a tiny synthesizer: mono float buffers, written as 16-bit WAV ----

local function buffer(seconds)
  local b = { n = math.floor(seconds * RATE) }
  for i = 1, b.n do b[i] = 0 end
  return b
end

-- Add f(t) for t in [0, len) seconds at time `at`.
local function add(b, at, len, f)
  local s = math.floor(at * RATE + 0.5)
  for i = 0, math.floor(len * RATE) - 1 do
    local k = s + i + 1
    if k > b.n then break end
    b[k] = b[k] + f(i / RATE)
  end
end

local seed = 7
local function noise()
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 1073741824 - 1
end

local function kick(amp)
  return function(t)
    return amp * math.sin(2 * math.pi * (50 * t + 2.1 * (1 - math.exp(-t / 0.03))))
      * math.exp(-t / 0.12)
  end
end
local function snare(t) return (0.3 * noise() + 0.15 * math.sin(2 * math.pi * 190 * t)) * math.exp(-t / 0.07) end
local function hat(amp)
  local prev = 0
  return function(t)
    local v = noise()
    local y = v - prev
    prev = v
    return amp * y * math.exp(-t / 0.02)
  end
end
-- A note with five harmonics (1/k); `decay` seconds, or sustained with short ramps.
local function tone(midi, amp, len, decay)
  local f = 440 * 2 ^ ((midi - 69) / 12)
  return function(t)
    local env = decay and math.exp(-t / decay) or math.min(1, t / 0.01, (len - t) / 0.05)
    local v = 0
    for k = 1, 5 do v = v + math.sin(2 * math.pi * f * k * t) / k end
    return amp * env * v
  end
end

local function write_wav(path, b)
  local f = assert(io.open(path, "wb"))
  local bytes = b.n * 2
  f:write("RIFF", string.pack("<I4", 36 + bytes), "WAVEfmt ",
          string.pack("<I4I2I2I4I4I2I2", 16, 1, 1, RATE, RATE * 2, 2, 16), "data",
          string.pack("<I4", bytes))
  local chunk = {}
  for i = 1, b.n do
    local v = math.max(-1, math.min(1, b[i]))
    chunk[#chunk + 1] = string.pack("<i2", math.floor(v * 32767 + 0.5))
    if #chunk == 4096 or i == b.n then
      f:write(table.concat(chunk))
      chunk = {}
    end
  end
  f:close()
end

-- Four bars; chords i-iv-V-i of the minor key on `tonic` (MIDI note), one per bar.
local MINOR = { { 0, 3, 7 }, { 5, 8, 12 }, { 7, 11, 14 }, { 0, 3, 7 } }

local function loop_a(path) -- 120 BPM, A minor
  local beat = 60 / 120
  local b = buffer(16 * beat)
  for k = 0, 15 do
    local t = k * beat
    add(b, t, 0.5, k % 2 == 0 and kick(0.7) or snare)
    add(b, t, 0.1, hat(0.08))
    add(b, t + beat / 2, 0.1, hat(0.05))
  end
  for bar = 0, 3 do
    local ch, t = MINOR[bar + 1], bar * 4 * beat
    for _, s in ipairs(ch) do add(b, t, 4 * beat, tone(57 + s, 0.035, 4 * beat)) end
    add(b, t, 4 * beat, tone(45 + ch[1], 0.06, 4 * beat))
  end
  write_wav(path, b)
end

-- 96 BPM, C minor: plucked arpeggio on eighths, kick and rim, after 0.24 s of silence (a take
-- that starts late: align() finds it and plays the file from there).
local LATE = 0.24
local function loop_b(path)
  local beat = 60 / 96
  local b = buffer(LATE + 16 * beat)
  for k = 0, 15 do
    local t = LATE + k * beat
    add(b, t, 0.5, kick(0.5))
    if k % 2 == 1 then add(b, t, 0.05, hat(0.25)) end
  end
  for bar = 0, 3 do
    local ch = MINOR[bar + 1]
    for e = 0, 7 do
      local t = LATE + (bar * 4 + e / 2) * beat
      add(b, t, beat, tone(60 + ch[e % 3 + 1] + (e >= 4 and 12 or 0), e % 2 == 0 and 0.06 or 0.035,
                           beat, 0.15))
    end
    add(b, LATE + bar * 4 * beat, 4 * beat, tone(48 + ch[1], 0.05, 4 * beat))
  end
  write_wav(path, b)
end

local dir = args.dir
if not dir then
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"), "cannot make " .. dir)
end
local pa, pb = dir .. "/loop_a_120bpm_Am.wav", dir .. "/loop_b_96bpm_Cm.wav"
loop_a(pa)
loop_b(pb)
if args.only_loops then return end

-- ---- the mix ----

local a = g:file{ name = "loop_a", path = pa, loop = true }
local b = g:file{ name = "loop_b", path = pb, loop = true }

local bpm_a = mg.detect_tempo(pa)
local key_a = mg.detect_key(pa)
local b2, bpm_b = mg.match_tempo(b, bpm_a)     -- 96 -> 120 BPM: tempo 1.25
local b3, semis, key_b = mg.match_key(b2, key_a) -- C minor -> A minor: -3 semitones
local b4, late = mg.align(b3, a)               -- onsets on A's
io.stderr:write(string.format("tempo_match: A %.2f BPM %s; B %.2f BPM %s, stretched x%.4f, "
                              .. "transposed %+d, %.1f ms late (file offset now %.3f s)\n",
                              bpm_a, key_a, bpm_b, key_b, b4.tempo, semis, late * 1000, b4.offset))

local mx = mg.mixer(g, { gain = -1 })
mx:track{ name = "groove", source = a, gain = -3, pan = -0.15 }
mx:track{ name = "riff", source = b4, gain = -4, pan = 0.2 }
g.duration = 16 -- eight bars at 120 BPM: each loop twice
