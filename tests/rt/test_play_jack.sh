#!/bin/sh
# test_play_jack.sh: `mixgraph play` against a real audio server, JACK2's dummy backend (no
# sound card needed), capturing exactly what mixgraph plays with jackcap. Checks:
#   0. no device gives a clear error naming the host APIs; --list-devices shows JACK;
#   1. live = offline: the played samples equal `mixgraph render` of the same patch at the same
#      rate and block, bit for bit, and the server's pacing is within 1 %;
#   2. live edits through --repl (moving a connection, changing a parameter) leave no step
#      above -60 dBFS in a steady 997 Hz tone;
#   3. --watch: a reload with a broken patch prints patch.lua:LINE and the audio plays on;
#      a good reload is applied, still without a step above -60 dBFS;
#   4. an injected stall (a node sleeping in the callback) is reported (test_stall).
#
# This virtual machine sometimes wakes threads 10-50 ms late, and its host may steal the CPU
# for longer: the server then has xruns and the capture loses frames, whatever mixgraph does.
# Such a run of checks 1-3 is inconclusive, not failed, when the server reported xruns while
# mixgraph's mean DSP load stayed under 50 % (it was not what overloaded the machine): it is
# tried again, up to 4 times. A failure without xruns, or with mixgraph overloaded, fails.
# Spontaneous xruns are logged. Exit 77 (skip) without jackd, or when every attempt of some
# check was inconclusive (the machine could not run audio in real time at all).
# Usage: test_play_jack.sh BUILD_DIR SOURCE_DIR
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
unsure=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# run CMD under a fresh private server: server N RATE PERIOD -- CMD...
server() { n=$1; shift; sh "$RT/jack_server.sh" run "$NAME$n" "$@"; }
# capture N LOG WAV STATS -- PLAY-ARGS...: play under a private server, capturing what it plays
capture() {
    n=$1 log=$2 wav=$3 stats=$4; shift 5
    rm -f "$wav" "$stats"    # a failed attempt must not be judged by the last one's files
    server "$n" 48000 1024 -- "$CAP" -m '^mixgraph:out_' -c 2 -o "$wav" -p 0.01 -j "$stats" \
        -- "$MG" play "$@" >"$log" 2>&1
}
# inconclusive LOG STATS: the server had xruns while mixgraph was not overloaded (mean DSP
# load under 50 %): the machine, not mixgraph, lost the frames
inconclusive() {
    grep -q '"xruns":[1-9]' "$2" 2>/dev/null || return 1
    load=$(sed -n 's/.*DSP load mean \([0-9]*\)\..*/\1/p' "$1")
    [ -n "$load" ] && [ "$load" -lt 50 ]
}
# wait_playing LOG: wait (at most 20 s) until mixgraph says it plays. Scripted edits are timed
# from then, not from the capture's start: the server can take seconds to come up on a busy
# machine, and an edit written before mixgraph loads the patch would test something else
wait_playing() {
    n=0
    until grep -q "^mixgraph: playing" "$1" 2>/dev/null || [ $n -ge 400 ]; do
        sleep 0.05
        n=$((n + 1))
    done
}
# attempt NAME FUNCTION: run a check up to 4 times while its runs are inconclusive
attempt() {
    what=$1 fn=$2 k=1
    while :; do
        msg=$($fn "$k")
        rc=$?
        echo "$msg"
        [ $rc -eq 0 ] && { ok "$what"; return; }
        if [ $rc -eq 2 ] && [ $k -lt 4 ]; then
            echo "note: $what: attempt $k inconclusive (server xruns, mixgraph not overloaded); again"
            k=$((k + 1))
            continue
        fi
        if [ $rc -eq 2 ]; then
            echo "INCONCLUSIVE: $what: 4 attempts lost frames to server xruns"
            unsure=$((unsure + 1))
        else
            fail "$what"
        fi
        return
    done
}

# 0. no device: a clear error naming the host APIs tried, exit 1
JACK_DEFAULT_SERVER=mg_none_$$ JACK_NO_START_SERVER=1 "$MG" play "$RT/parity.lua" \
    >"$T/nodev.out" 2>"$T/nodev.err"
rc=$?
cat "$T/nodev.err"
[ $rc -eq 1 ] || fail "play without a device exited $rc (expect 1)"
grep -q "host APIs tried: ALSA" "$T/nodev.err" || fail "no-device error does not name the host APIs"
"$MG" play --help | grep -q -- "--list-devices" || fail "play --help"
server 0 48000 1024 -- "$MG" play --list-devices >"$T/list.out" 2>&1
grep -q "JACK Audio Connection Kit: system" "$T/list.out" || fail "--list-devices misses JACK"

# 1. live = offline
"$MG" render "$RT/parity.lua" -o "$T/ref.wav" --bits 32f --block 256 -q ||
    fail "offline render of parity.lua"
check_parity() {
    capture 1 "$T/play1.log" "$T/cap.wav" "$T/stats1" -- "$RT/parity.lua" --block 256
    rc=$?
    cat "$T/play1.log" "$T/stats1"
    # jackcap exits 4 when only the pacing is off: that is judged below, on its own
    [ $rc -eq 0 ] || [ $rc -eq 4 ] || { echo "capture exited $rc"; return 1; }
    [ $rc -eq 0 ] && touch "$T/paced"
    "$CHK" match "$T/ref.wav" "$T/cap.wav" && return 0
    inconclusive "$T/play1.log" "$T/stats1" && return 2
    return 1
}
attempt "played samples equal the offline render" check_parity
# pacing: the server keeps the real rate with mixgraph playing (jackcap -p 0.01)
check_pacing() {
    [ -e "$T/paced" ] && return 0
    capture 1 "$T/play1.log" "$T/cap.wav" "$T/stats1" -- "$RT/parity.lua" --block 256
    rc=$?
    cat "$T/play1.log" "$T/stats1"
    [ $rc -eq 0 ] && return 0
    inconclusive "$T/play1.log" "$T/stats1" && return 2
    return 1
}
attempt "the server's pacing within 1 % while mixgraph plays" check_pacing

# no_steps RC LOG STATS WAV END: the capture ended well (RC 0) and the 997 Hz tone has no step
# above -60 dBFS from 0.3 s (after its onset) to frame END: 0; else 2 when the machine lost
# frames (see inconclusive), 1 otherwise
no_steps() {
    good=1
    [ "$1" -eq 0 ] || good=0
    "$CHK" sine -f 997 -o 4 -l -60 -a 14400 -b "$5" "$4" || good=0
    [ $good -eq 1 ] && return 0
    inconclusive "$2" "$3" && return 2
    return 1
}

# 2. live edits from the REPL
check_edits() {
    rm -f "$T/play2.log"
    (
        wait_playing "$T/play2.log"
        sleep 1.0
        echo 'g:find("a"):disconnect(g.output); local _ = g:find("b") >> g.output'
        sleep 0.6
        echo 'g:find("b").gain = -14'
        sleep 0.6
        echo ':stats'
        sleep 0.3
    ) | capture 2 "$T/play2.log" "$T/edit.wav" "$T/stats2" -- "$RT/edit.lua" --repl \
        --duration 3
    rc=$?
    cat "$T/play2.log" "$T/stats2"
    grep -q "edits [1-9]" "$T/play2.log" || { echo "the REPL edits did not reach the audio"; return 1; }
    no_steps $rc "$T/play2.log" "$T/stats2" "$T/edit.wav" 120000
}
attempt "live edits: no step above -60 dBFS" check_edits

# 3. --watch with a broken and then a good patch
check_watch() {
    cp "$RT/edit.lua" "$T/watch.lua"
    rm -f "$T/play3.log"
    (
        wait_playing "$T/play3.log"
        sleep 1.0
        # saved as editors do, whole (mixgraph also waits for a file to settle: see play.c)
        printf 'local g = ...\nlocal tone = g:osc{ freq = 997 }\nlocal x = = 1\n' >"$T/w.tmp"
        mv "$T/w.tmp" "$T/watch.lua"
        sleep 1.0
        sed 's/name = "a" }/name = "a", gain = -3 }/' "$RT/edit.lua" >"$T/w.tmp"
        mv "$T/w.tmp" "$T/watch.lua"
    ) &
    capture 3 "$T/play3.log" "$T/watch.wav" "$T/stats3" -- "$T/watch.lua" --watch --duration 3.5
    rc=$?
    wait
    cat "$T/play3.log" "$T/stats3"
    grep -q "watch.lua:3:" "$T/play3.log" || { echo "no watch.lua:3: message"; return 1; }
    grep -q "old graph keeps playing" "$T/play3.log" || { echo "no 'keeps playing'"; return 1; }
    grep -q "reloaded.*(1 change)" "$T/play3.log" || { echo "good reload not applied"; return 1; }
    no_steps $rc "$T/play3.log" "$T/stats3" "$T/watch.wav" 156000
}
attempt "reloads: errors reported, audio on without a step above -60 dBFS" check_watch

# 4. an injected stall is reported (this one cannot be spoiled by the machine: it only needs
#    the engine to see a callback much longer than its period)
if server 4 48000 1024 -- "$B/tests/rt/test_stall"; then ok "stall reported"
else fail "an injected stall was not reported"; fi

echo "test_play_jack: $fails failed, $unsure inconclusive"
[ $fails -eq 0 ] || exit 1
[ $unsure -eq 0 ] || exit 77
exit 0
