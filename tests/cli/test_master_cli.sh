#!/usr/bin/env bash
# test_master_cli.sh: `mixgraph analyze` (--json, --plot, --tracks) and `mixgraph master` as a
# user meets them: exit codes, reports, files written only on success, an existing target left
# alone by a refused run, and the master output measured on target by `analyze`.
# Usage: test_master_cli.sh path/to/mixgraph source-dir
set -u
MG=$1
SRC=$2
T=$(mktemp -d /tmp/mg_master_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
# json_field FILE KEY: the first number after "KEY":
json_field() { grep -o "\"$2\": [-0-9.]*" "$1" | head -1 | sed 's/.*: //'; }
within() { # VALUE WANT TOL WHAT
    if awk -v v="$1" -v w="$2" -v t="$3" 'BEGIN { d = v - w; if (d < 0) d = -d; exit !(v != "" && d <= t) }'; then ok
    else fail "$4: got '$1', expected $2 +- $3"; fi
}

# material: a quiet pink-noise "mix" (about -35 LUFS), a second track, silence
cat >"$T/mix.lua" <<'LUA'
local g, args = ...
local _ = g:noise{ color = "pink", channels = 2, gain = args.gain or -38, duration = 8,
                   seed = args.seed or 1 } >> g.output
if args.tone then local _ = g:osc{ freq = args.tone, gain = -12, duration = 8 } >> g.output end
LUA
"$MG" render "$T/mix.lua" -o "$T/mix.wav" -q || fail "render mix"
"$MG" render "$T/mix.lua" -o "$T/bass.wav" -q --set gain=-60 --set tone=150 || fail "render bass"
"$MG" render "$T/mix.lua" -o "$T/silent.wav" -q --set gain=-144 || fail "render silence"

# analyze
expect 0 "$MG" analyze "$T/mix.wav"
for k in "loudness range" "crest factor" "stereo correlation" "clipped samples" "DC offset"; do
    contains "$T/out" "$k"; done
expect 0 "$MG" analyze --json "$T/mix.wav" "$T/silent.wav"
contains "$T/out" '"integrated": null'
contains "$T/out" '"per_channel": [{"peak"'
if command -v python3 >/dev/null; then
    python3 -m json.tool "$T/out" >/dev/null && ok || fail "analyze --json is not valid JSON"
fi
expect 0 "$MG" analyze "$T/mix.wav" --plot "$T/plot.svg" --target ebu
contains "$T/plot.svg" "<svg"; contains "$T/plot.svg" "target -23.0 LUFS"
contains "$T/plot.svg" "Average spectrum"
[ "$(grep -c '<polyline' "$T/plot.svg")" -ge 3 ] && ok || fail "plot lacks M, S or spectrum lines"
expect 2 "$MG" analyze --plot; contains "$T/err" "needs a value"
expect 2 "$MG" analyze --tracks "$T/mix.wav"; contains "$T/err" "at least two"
expect 0 "$MG" analyze --tracks "$T/bass.wav" "$T/mix.wav"
contains "$T/out" "masks"; contains "$T/out" "relative to the loudest"
contains "$T/out" "bass.wav masks"
expect 0 "$MG" analyze --tracks --json "$T/bass.wav" "$T/mix.wav"; contains "$T/out" '"masking"'

# master: usage
expect 0 "$MG" master --help; contains "$T/out" "spotify -14/-1"
expect 0 "$MG" help master
expect 2 "$MG" master "$T/mix.wav" -o "$T/m.wav"; contains "$T/err" "missing --target"
expect 2 "$MG" master "$T/mix.wav" -o "$T/m.wav" --target loudest; contains "$T/err" "expects a number"
expect 2 "$MG" master "$T/mix.wav" -o "$T/m.wav" --target 5; contains "$T/err" "[-70, 0]"
printf 'local g = ...\nlocal x = g:nosuchnode{}\n' >"$T/bad.lua"
expect 2 "$MG" master "$T/mix.wav" -o "$T/m.wav" --target -20 --chain "$T/bad.lua"
contains "$T/err" "bad.lua:2:"
[ ! -e "$T/m.wav" ] && ok || fail "a refused master left m.wav"

# master: a reachable target with the default chain
expect 0 "$MG" master "$T/mix.wav" -o "$T/m.wav" --target -20 -v
contains "$T/err" "pass 1: gain +0.000 dB"
contains "$T/out" "gain applied"; contains "$T/out" "passes"
expect 0 "$MG" analyze --json "$T/m.wav"
within "$(json_field "$T/out" integrated)" -20 0.1 "master --target -20: integrated"
tp=$(json_field "$T/out" true_peak)
awk -v t="$tp" 'BEGIN { exit !(t <= -1) }' && ok || fail "master: true peak $tp over -1"

# master: silence is refused, the existing target survives
echo "keep me" >"$T/keep.wav"
expect 1 "$MG" master "$T/silent.wav" -o "$T/keep.wav" --target spotify
contains "$T/err" "silent"; contains "$T/err" "was not written"
contains "$T/keep.wav" "keep me"
ls -A "$T" | grep -q 'master-' && fail "temporary master file left: $(ls -A "$T")" || ok

echo "test_master_cli: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
