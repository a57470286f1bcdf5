-- analysis_test.lua: measurement and mastering from Lua, checked against analytic values and
-- against the engine's own file analysis: the meter node (pass-through, readings while
-- rendering), mixgraph.analyze (per-channel RMS, peak, correlation, crest, DC), the track
-- masking report (mixgraph.tracks), mixer:balance, and g:render with a loudness target.
-- Run by CTest through the stock lua5.4 interpreter; arg[1] is a scratch directory.
local mg = require "mixgraph"

local dir = arg[1] or "/tmp"
local t = require "check"
local check, near = t.check, t.near
local function report(what, v, unit)
  print(string.format("  %-58s %12.4f %s", what, v, unit or ""))
end

-- 1. the meter node: silent before, unchanged signal, readings while rendering = the file's
do
  local g = mg.graph{ rate = 48000 }
  local src = g:noise{ color = "pink", channels = 2, gain = -20, duration = 8, seed = 3 }
  local m = g:meter{ name = "m" }
  local _ = src >> m >> g.output
  check(m.integrated == -math.huge and m.true_peak == -math.huge,
        "meter before rendering: " .. tostring(m.integrated))
  local with = g:measure(2)
  local g2 = mg.graph{ rate = 48000 }
  local _ = g2:noise{ color = "pink", channels = 2, gain = -20, duration = 8, seed = 3 } >> g2.output
  local without = g2:measure(2)
  for c = 1, 2 do
    check(with.rms[c] == without.rms[c] and with.peak[c] == without.peak[c],
          "meter changed the signal")
  end
  local calls, last_I, last_done = 0, nil, 0
  local path = dir .. "/meter.wav"
  assert(g:render(path, { bits = "32f", progress = function(done, total)
    calls = calls + 1
    last_I, last_done = m.integrated, done
    check(total == 8, "progress total " .. total)
  end }))
  check(calls >= 1 and last_done == 8, "progress not called at the end")
  local a = assert(mg.analyze(path))
  near(last_I, a.integrated, 1e-6, "meter I read in the last progress call vs the file")
  near(m.lra, a.lra, 1e-6, "meter LRA vs the file")
  near(m.true_peak, a.true_peak, 1e-6, "meter true peak vs the file")
  near(m.momentary_max, a.momentary_max, 1e-6, "meter max M vs the file")
  near(m.shortterm_max, a.shortterm_max, 1e-6, "meter max S vs the file")
  report("meter node: integrated while rendering", last_I, "LUFS")
  -- an error in the progress function stops the render and is raised, leaving no file
  local ok, err = pcall(g.render, g, dir .. "/stopped.wav", { progress = function() error("stop here") end })
  check(not ok and tostring(err):find("stop here"), "progress error not raised: " .. tostring(err))
  check(io.open(dir .. "/stopped.wav") == nil, "a stopped render left a file")
end

-- 2. mixgraph.analyze on a stereo 997 Hz sine at -6.02 dBFS peak (0.5)
do
  local g = mg.graph{ rate = 48000 }
  local _ = g:osc{ freq = 997, gain = 20 * math.log(0.5, 10), duration = 4, attack = 0,
                   release = 0 } >> g.output
  local path = dir .. "/sine.wav"
  assert(g:render(path, { bits = "32f" }))
  local a = assert(mg.analyze(path))
  near(a.rms[1], -6.0206 - 3.0103, 0.005, "sine RMS (peak - 3.01 dB)")
  near(a.peak[2], -6.0206, 0.005, "sine peak")
  near(a.correlation, 1, 1e-9, "L = R correlation")
  near(a.crest, 3.0103, 0.01, "sine crest factor")
  near(a.dc[1], 0, 1e-4, "sine DC")
  near(a.integrated, -6.0206 + 0.691 - 0.691, 0.02, "stereo 997 Hz sine: I = peak dBFS")
  check(a.clipped == 0 and a.channels == 2 and a.duration == 4, "sine: clipped/channels/duration")
  local missing, msg = mg.analyze(dir .. "/nothing.wav")
  check(missing == nil and msg:find("nothing.wav"), "missing file: " .. tostring(msg))
end

-- 3. masking between tracks: a loud 150 Hz tone covers a quiet 170 Hz one (same critical
-- band, 100-200 Hz); the quiet track's 5 kHz tone is uncovered; nothing covers the loud one
do
  local function tone_file(name, tones)
    local g = mg.graph{ rate = 48000 }
    for _, t in ipairs(tones) do
      local _ = g:osc{ freq = t[1], gain = t[2], duration = 6 } >> g.output
    end
    local p = dir .. "/" .. name
    assert(g:render(p))
    return p
  end
  local a = tone_file("loud.wav", { { 150, -10 } })
  local b = tone_file("quiet.wav", { { 170, -30 }, { 5000, -30 } })
  local r = assert(mg.tracks{ a, b })
  near(r.tracks[1].relative, 0, 1e-9, "loudest track relative level")
  check(r.tracks[2].relative < -5, "quiet track relative level " .. r.tracks[2].relative)
  local a_masks_b, b_masks_a
  for _, p in ipairs(r.masking) do
    if p.masker == 1 then a_masks_b = p.bands else b_masks_a = p.bands end
  end
  check(#a_masks_b == 1 and a_masks_b[1].low == 100 and a_masks_b[1].high == 200
        and a_masks_b[1].share > 0.9, "loud track should mask the quiet one in 100-200 Hz only")
  check(#b_masks_a == 0, "the quiet track masks nothing")
end

-- 4. mixer:balance: two tracks, one compressed, set 6 LU apart
do
  local g = mg.graph{ rate = 48000 }
  local mx = mg.mixer(g)
  mx:track{ name = "a", source = g:osc{ freq = 220, gain = -12, duration = 6 }, gain = -3 }
  mx:track{ name = "b", source = g:noise{ color = "pink", gain = -30, duration = 6 },
            inserts = { g:compressor{ threshold = -30, ratio = 4 } } }
  local reached = mx:balance({ a = 0, b = -6 })
  near(reached.b, -6, 0.1, "balance: b relative to a")
  -- independent check: each track alone
  mx.strips[2].solo = true
  local la = g:loudness().integrated
  mx.strips[2].solo, mx.strips[3].solo = false, true
  local lb = g:loudness().integrated
  mx.strips[3].solo = false
  near(lb - la, -6, 0.1, "balance checked by soloing")
  near(mx.strips[2].gain, -3, 1e-9, "the anchor track keeps its fader")
  report("balance: b - a (expect -6)", lb - la, "LU")
  local ok, err = pcall(mx.balance, mx, { a = 0, zz = -3 })
  check(not ok and tostring(err):find("zz"), "unknown track not reported: " .. tostring(err))
end

-- 5. g:render with a loudness target (gain only: the graph has no limiter here)
do
  local g = mg.graph{ rate = 48000 }
  local _ = g:noise{ color = "pink", channels = 2, gain = -32, duration = 10, seed = 5 } >> g.output
  local path = dir .. "/norm.wav"
  local ok, rep = g:render(path, { target_lufs = -20, ceiling_dbtp = -1 })
  check(ok == true, "render with target_lufs failed: " .. tostring(rep))
  near(rep.after.integrated, -20, 0.1, "target_lufs -20: output I")
  check(rep.after.true_peak <= -1, "target_lufs: TP " .. rep.after.true_peak)
  near(assert(mg.analyze(path)).integrated, rep.after.integrated, 1e-9, "report vs file")
  report("g:render target_lufs -20: output I", rep.after.integrated, "LUFS")
  local ok2, msg, rep2 = g:render(dir .. "/toolow.wav", { target_lufs = -3, ceiling_dbtp = -1 })
  check(ok2 == nil and msg:find("no limiter") and rep2.note == msg,
        "an unreachable target should fail with a reason: " .. tostring(msg))
  check(io.open(dir .. "/toolow.wav") == nil, "a failed target render left a file")
end

t.done("analysis_test")
