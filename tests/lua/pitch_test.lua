-- pitch_test.lua: detect_tempo, detect_key and the matching helpers, checked by measurement on
-- the two loops patches/tempo_match.lua synthesizes (A: 120 BPM, A minor; B: 96 BPM, C minor,
-- starting 0.24 s late). match_tempo 120 -> 128 BPM must give 120/128 of the length +-1 ms
-- and read 128 +-0.5 BPM; transpose and match_key land on the intended keys; align finds B's
-- late start +-1 ms. Run by CTest: lua5.4 pitch_test.lua SOURCE_DIR WORK_DIR
local mg = require "mixgraph"
local src_dir, work = arg[1], arg[2]

local t = dofile((arg[0]:match("(.*/)") or "./") .. "check.lua")
local check, near = t.check, t.near

os.execute("mkdir -p '" .. work .. "'")
assert(loadfile(src_dir .. "/patches/tempo_match.lua"))(nil, { dir = work, only_loops = true })
local pa, pb = work .. "/loop_a_120bpm_Am.wav", work .. "/loop_b_96bpm_Cm.wav"

-- detection on the loops themselves
local bpm_a, beats = mg.detect_tempo(pa)
near(bpm_a, 120, 0.5, "detect_tempo(loop A)")
near(beats[1], 0, 0.005, "loop A: first beat (s)")
near(beats[5], 2, 0.005, "loop A: fifth beat (s)")
near((mg.detect_tempo(pb)), 96, 0.5, "detect_tempo(loop B)")
check(mg.detect_key(pa) == "A minor", "detect_key(loop A): " .. tostring(mg.detect_key(pa)))
check(mg.detect_key(pb) == "C minor", "detect_key(loop B): " .. tostring(mg.detect_key(pb)))

-- match_tempo: 120 -> 128 BPM
do
  local g = mg.graph{ rate = 48000 }
  local a = g:file{ name = "loop", path = pa, gain = -2 }
  local _ = a >> g:gain{ gain = -1 } >> g.output
  local s, from = mg.match_tempo(a, 128)
  near(from, 120, 0.5, "match_tempo: source tempo")
  check(s.type == "stretch" and s.gain == -2 and s.name == "loop" and g:find("loop") == s,
        "match_tempo returns a stretch node with the source's name and gain")
  check(not pcall(function() return a.name end), "the replaced node is removed")
  near(g:length(), 8 * from / 128, 0.001, "match_tempo 128: length (s)")
  local out = work .. "/a128.wav"
  assert(g:render(out, { bits = "32f" }))
  near((mg.detect_tempo(out)), 128, 0.5, "match_tempo 128: detected tempo")
  check(mg.detect_key(out) == "A minor", "match_tempo keeps the key: " .. tostring(mg.detect_key(out)))
end

-- transpose and match_key
do
  local g = mg.graph{ rate = 48000 }
  local a = g:file{ path = pa }
  local _ = a >> g.output
  local t = mg.transpose(a, 2)
  near(t.pitch, 2, 0, "transpose: pitch")
  local out = work .. "/a_up2.wav"
  assert(g:render(out))
  check(mg.detect_key(out) == "B minor", "transpose +2 of A minor: " .. tostring(mg.detect_key(out)))

  local cases = { { "A minor", -3 }, { "C major", -3 }, { "Eb major", 0 }, { "F#m", -6 },
                  { "G minor", -5 }, { "E minor", 4 } }
  for _, c in ipairs(cases) do
    local g2 = mg.graph{ rate = 48000 }
    local b = g2:file{ path = pb }
    local _, semis, from = mg.match_key(b, c[1])
    check(semis == c[2] and from == "C minor",
          string.format("match_key(C minor -> %s): %s semitones (expected %d)", c[1], tostring(semis), c[2]))
  end
  local g3 = mg.graph{ rate = 48000 }
  local b = g3:file{ path = pb }
  local _ = mg.match_key(b, "A minor") >> g3.output
  out = work .. "/b_in_a.wav"
  assert(g3:render(out))
  check(mg.detect_key(out) == "A minor", "match_key(B, A minor) reads " .. tostring(mg.detect_key(out)))
end

-- align: B starts 0.24 s late in its file; at 120 BPM that is 0.192 s on the graph clock
do
  local g = mg.graph{ rate = 48000 }
  local a = g:file{ path = pa }
  local b = mg.match_tempo(g:file{ path = pb }, 120)
  local b2, late = mg.align(b, a)
  near(late, 0.24 * 96 / 120, 0.001, "align: B late by (s)")
  near(b2.offset, 0.24, 0.0015, "align: B's file offset (s)")
  near(b2.start, 0, 0, "align: B's start (s)")
  near(b2.tempo, 1.25, 0.005, "align keeps the stretch")
end

-- errors name the patch line and the problem
do
  local g = mg.graph{ rate = 48000 }
  local ok, err = pcall(mg.match_tempo, g:osc{}, 120)
  check(not ok and err:find("expects a file or stretch node, got a node of type 'osc'"), tostring(err))
  local f = g:file{ path = pa }
  ok, err = pcall(function() mg.match_key(f, "H minor") end)
  check(not ok and err:find("pitch_test.lua:%d+: match_key: 'H minor' is not a key"), tostring(err))
  ok, err = pcall(function() mg.match_key(f, "A minor", 0.8) end)
  check(not ok and err:find("options table, got number"), tostring(err))
  ok, err = pcall(function() mg.transpose(f, 30) end)
  check(not ok and err:find("pitch_test.lua:%d+: transpose: .*'pitch' = 30 out of range"), tostring(err))
  check(f.type == "file", "a refused transpose leaves the source in place")
  local bpm, why = mg.detect_tempo(work .. "/missing.wav")
  check(bpm == nil and why:find("missing.wav: No such file"), tostring(why))
  local m = g:file{ path = pa }
  os.execute("cp '" .. pa .. "' '" .. work .. "/gone.wav'")
  local gone = g:file{ path = work .. "/gone.wav" }
  os.remove(work .. "/gone.wav")
  ok, err = pcall(function() mg.align(gone, m) end)
  check(not ok and err:find("pitch_test.lua:%d+: align: .*gone.wav: No such file"), tostring(err))
  ok, err = pcall(function() mg.match_tempo(gone, 100) end)
  check(not ok and err:find("pitch_test.lua:%d+: match_tempo: .*gone.wav: No such file"), tostring(err))
end

for _, f in ipairs{ pa, pb, "a128.wav", "a_up2.wav", "b_in_a.wav" } do
  os.remove(f:find("/") and f or (work .. "/" .. f))
end
os.remove(work)
t.done("pitch_test")
