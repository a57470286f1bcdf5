#!/bin/sh
# test_play_jack.sh: `mixgraph play` against a real audio server, JACK2's dummy backend (no
# sound card needed), capturing exactly what mixgraph plays with jackcap. Checks:
#   1. live = offline: the played samples equal `mixgraph render` of the same patch at the same
#      rate and block, bit for bit, and the server's pacing is within 1 %;
#   2. live edits through --repl (moving a connection, changing a parameter) leave no step
#      above -60 dBFS in a steady 997 Hz tone;
#   3. --watch: a reload with a broken patch prints patch.lua:LINE and the audio plays on;
#      a good reload is applied, still without a step above -60 dBFS;
#   4. an injected stall (a node sleeping in the callback) is reported (test_stall).
# Spontaneous xruns (this VM wakes threads late) are logged, never a failure.
# Usage: test_play_jack.sh BUILD_DIR SOURCE_DIR. Exit 77 (skip) without jackd.
set -u
B=$1
S=$2
RT=$S/tests/rt
MG=$B/mixgraph
CAP=$B/tests/rt/jackcap
CHK=$B/tests/rt/rtcheck
command -v jackd >/dev/null 2>&1 || { echo "SKIP: jackd not installed"; exit 77; }
T=$(mktemp -d /tmp/mg_jack.XXXXXX)
trap 'rm -rf "$T"' EXIT
NAME=mg_play_$$
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# run CMD under a fresh private server: server NAME RATE PERIOD -- CMD...
server() { n=$1; shift; sh "$RT/jack_server.sh" run "$NAME$n" "$@"; }

# 1. live = offline
"$MG" render "$RT/parity.lua" -o "$T/ref.wav" --bits 32f --block 256 -q ||
    fail "offline render of parity.lua"
server 1 48000 1024 -- "$CAP" -m '^mixgraph:out_' -c 2 -o "$T/cap.wav" -p 0.01 \
    -j "$T/stats1" -- "$MG" play "$RT/parity.lua" --block 256 >"$T/play1.log" 2>&1
rc=$?
cat "$T/play1.log"
[ $rc -eq 0 ] || fail "play + capture exited $rc (4 = pacing off by more than 1 %)"
if "$CHK" match "$T/ref.wav" "$T/cap.wav"; then ok "played samples equal the offline render"
else fail "played samples differ from the offline render"; fi

# 2. live edits from the REPL
(
    sleep 1.0
    echo 'g:find("a"):disconnect(g.output); local _ = g:find("b") >> g.output'
    sleep 0.6
    echo 'g:find("b").gain = -14'
    sleep 0.6
    echo ':stats'
    sleep 0.3
) | server 2 48000 1024 -- "$CAP" -m '^mixgraph:out_' -c 2 -o "$T/edit.wav" -j "$T/stats2" \
    -- "$MG" play "$RT/edit.lua" --repl --duration 3 >"$T/play2.log" 2>&1
rc=$?
cat "$T/play2.log"
[ $rc -eq 0 ] || fail "play --repl + capture exited $rc"
grep -q "edits [1-9]" "$T/play2.log" || fail "the REPL edits did not reach the audio thread"
# analyse from 0.3 s (after the tone's onset) to near the end
if "$CHK" sine -f 997 -o 4 -l -60 -a 14400 -b 120000 "$T/edit.wav"; then
    ok "live edits: no step above -60 dBFS"
else fail "live edits left a discontinuity"; fi
"$CHK" info "$T/edit.wav"

# 3. --watch with a broken and then a good patch
cp "$RT/edit.lua" "$T/watch.lua"
(
    sleep 1.0
    printf 'local g = ...\nlocal tone = g:osc{ freq = 997 }\nlocal x = = 1\n' >"$T/watch.lua"
    sleep 1.0
    sed 's/name = "a" }/name = "a", gain = -3 }/' "$RT/edit.lua" >"$T/watch.lua"
    sleep 1.0
) &
server 3 48000 1024 -- "$CAP" -m '^mixgraph:out_' -c 2 -o "$T/watch.wav" -j "$T/stats3" \
    -- "$MG" play "$T/watch.lua" --watch --duration 3.5 >"$T/play3.log" 2>&1
rc=$?
wait
cat "$T/play3.log"
[ $rc -eq 0 ] || fail "play --watch + capture exited $rc"
grep -q "watch.lua:3:" "$T/play3.log" || fail "the broken reload did not print watch.lua:3: ..."
grep -q "old graph keeps playing" "$T/play3.log" || fail "no 'keeps playing' notice"
grep -q "reloaded.*(1 change)" "$T/play3.log" || fail "the good reload (one gain) was not applied"
if "$CHK" sine -f 997 -o 4 -l -60 -a 14400 -b 156000 "$T/watch.wav"; then
    ok "reloads: the audio ran on without a step above -60 dBFS"
else fail "reloads disturbed the audio"; fi

# 4. an injected stall is reported
if server 4 48000 256 -- "$B/tests/rt/test_stall"; then ok "stall reported"
else fail "an injected stall was not reported"; fi

for f in "$T"/stats*; do echo "capture stats: $(cat "$f")"; done
echo "test_play_jack: $fails failed"
[ $fails -eq 0 ]
