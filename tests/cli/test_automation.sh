#!/usr/bin/env bash
# test_automation.sh: automation through `mixgraph render`: an automated patch (events of
# every kind, fn automation drawing on mixgraph.random, modulation, a tempo map) gives
# byte-identical files for blocks 1, 64 and 4096; the same --seed gives identical files and
# different seeds differ; a Lua error inside an automation function stops the render with
# `patch.lua:LINE: message`, exit 2 and no output; --stems writes the mixer's buses.
# g:at edits are block-size independent and stop the render on a Lua error.
# patches/algorithmic_mix.lua renders, and its seeds differ.
# Usage: test_automation.sh path/to/mixgraph source-dir
set -u
MG=$1
SRC=${2:-.}
T=$(mktemp -d /tmp/mg_auto_XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

cat >"$T/auto.lua" <<'LUA'
local g = ...
local mg = require "mixgraph"
g:tempo(120)
g:tempo(90, { at = 0.7731 })
local mx = mg.mixer(g)
local verb = mx:bus{ name = "verb", inserts = { g:reverb{ mix = 100 } } }
local echo = mx:bus{ name = "echo", inserts = { g:delay{ note = "1/16", mix = 100, feedback = 30 } } }
local src = g:osc{ shape = "saw", freq = 110, gain = -18, duration = 1.5 }
local f = g:filter{ freq = 400 }
local t = mx:track{ name = "synth", source = src, inserts = { f },
                    sends = { { bus = verb, gain = -60 }, { bus = echo, gain = -6 } } }
local fr = f:param("freq")
fr:exp_to(6000, g:beats(2)):target(300, g:bars(1), 0.1):step_to(2000, 1.2, 4)
fr:hold(1.25)
f:param("q"):mod(g:osc{ freq = 3, gain = 0 }, 0.4)
t.sends[1].node:param("gain"):fn(function(tt)
  return -60 + 50 * math.abs(math.sin(tt * 2)) * (0.8 + 0.2 * mg.random())
end, { rate = 150 })
t.fader:param("gain"):curve({ 0, -6, -2, -12, 0 }, 0.3, 0.5):scurve_to(-3, 1.4)
src:param("freq"):fn(function(tt) return 110 + mg.random(0, 4) * 55 end, { rate = 8 })
g.duration = 1.5
LUA

# block sizes (a tempo change at 0.7731 s moves a note-valued delay: blocks end there)
for b in 1 64 4096; do expect 0 "$MG" render "$T/auto.lua" -o "$T/b$b.wav" --block $b --bits 32f; done
cmp -s "$T/b1.wav" "$T/b64.wav" && ok || fail "block 64 differs from block 1"
cmp -s "$T/b1.wav" "$T/b4096.wav" && ok || fail "block 4096 differs from block 1"

# seeds
expect 0 "$MG" render "$T/auto.lua" -o "$T/s7a.wav" --seed 7
expect 0 "$MG" render "$T/auto.lua" -o "$T/s7b.wav" --seed 7
expect 0 "$MG" render "$T/auto.lua" -o "$T/s8.wav" --seed 8
expect 0 "$MG" render "$T/auto.lua" -o "$T/sdef.wav"
cmp -s "$T/s7a.wav" "$T/s7b.wav" && ok || fail "the same seed gave different files"
cmp -s "$T/s7a.wav" "$T/s8.wav" && fail "seeds 7 and 8 gave identical files" || ok
expect 0 "$MG" render "$T/auto.lua" -o "$T/s1.wav" --seed 1
cmp -s "$T/sdef.wav" "$T/s1.wav" && ok || fail "the default seed is not 1"
expect 2 "$MG" render "$T/auto.lua" -o "$T/x.wav" --seed -3; contains "$T/err" "--seed -3"

# a Lua error inside an automation function
cat >"$T/err.lua" <<'LUA'
local g = ...
local o = g:osc{ freq = 220, duration = 1 }
local _ = o >> g.output
o:param("freq"):fn(function(t)
  if t > 0.5 then
    local x = nil
    return x.y
  end
  return 220
end, { rate = 100 })
LUA
echo keep >"$T/keep.wav"
expect 2 "$MG" render "$T/err.lua" -o "$T/keep.wav"
contains "$T/err" "err.lua:7: attempt to index a nil value (local 'x')"
grep -q keep "$T/keep.wav" && ok || fail "an existing file was overwritten by a failed render"
expect 2 "$MG" render "$T/err.lua" -o "$T/none.wav"
[ -e "$T/none.wav" ] && fail "a failed render left none.wav" || ok
ls -A "$T" | grep -q '^\.none' && fail "temporary file left behind" || ok

# stems: the mixer's buses (master, the main output itself, is not a stem)
expect 0 "$MG" render "$T/auto.lua" -o "$T/mix.flac" --stems "$T/stems" --bits 16
[ -s "$T/stems/verb.flac" ] && ok || fail "stems/verb.flac missing"
[ -e "$T/stems/master.flac" ] && fail "master written as a stem" || ok
expect 0 "$MG" analyze "$T/mix.flac" "$T/stems/verb.flac"
[ "$(grep -c '1.500 s' "$T/out")" -eq 2 ] && ok || { fail "stem length differs"; cat "$T/out" >&2; }

# scheduled edits (g:at): identical for every block size; an error stops with file:line
cat >"$T/at.lua" <<'LUA'
local g = ...
local tone = g:osc{ name = "tone", freq = 997, gain = -9 }
local a, b = g:gain{ name = "a" }, g:gain{ name = "b", gain = -6 }
local _ = tone >> a >> g.output
_ = tone >> b
g:at(0.4321, function() a:disconnect(g.output); local _ = b >> g.output end)
g:at(0.7, function()
  local d = g:delay{ name = "slap", time = 90, mix = 50 }
  local _ = b >> d >> g.output
  b.gain = -12
end)
g:at(1.1, function() g:find("slap"):remove() end)
g.duration = 1.5
LUA
for b in 1 64 4096; do
    expect 0 "$MG" render "$T/at.lua" -o "$T/at_$b.wav" --block $b --bits 32f
done
cmp -s "$T/at_1.wav" "$T/at_64.wav" && ok || fail "g:at: blocks 1 and 64 differ"
cmp -s "$T/at_1.wav" "$T/at_4096.wav" && ok || fail "g:at: blocks 1 and 4096 differ"
printf 'local g = ...\ng:osc{}:to(g.output)\ng:at(0.2, function()\n  error("no such bus")\nend)\ng.duration = 1\n' >"$T/at_bad.lua"
expect 2 "$MG" render "$T/at_bad.lua" -o "$T/at_bad.wav"
contains "$T/err" "at_bad.lua:4: no such bus"
[ -e "$T/at_bad.wav" ] && fail "a failed g:at render left a file" || ok

# the example patch
if [ -f "$SRC/patches/algorithmic_mix.lua" ]; then
    expect 0 "$MG" render "$SRC/patches/algorithmic_mix.lua" -o "$T/algo1.wav" --duration 4
    expect 0 "$MG" render "$SRC/patches/algorithmic_mix.lua" -o "$T/algo2.wav" --duration 4 --seed 2
    cmp -s "$T/algo1.wav" "$T/algo2.wav" && fail "algorithmic_mix: seeds 1 and 2 identical" || ok
fi

echo "test_automation_cli: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
