#!/usr/bin/env bash
# bench_pitch.sh: pitch and tempo speed. A 60 s 48 kHz stereo input (pink noise plus a 440 Hz
# tone) is processed three ways by mixgraph and, in the same run, by sox and ffmpeg:
#   tempo 1.25   mixgraph `stretch` (Rubber Band R3)  | sox tempo | ffmpeg atempo, rubberband
#   pitch +3     mixgraph `stretch`                   | sox pitch | ffmpeg rubberband
#   varispeed    mixgraph `file` rate 1.25            | sox speed + rate | ffmpeg asetrate + aresample
# Best wall-clock of $RUNS runs each, printed with the ratio mixgraph/tool. Different tools use
# different algorithms (sox's and ffmpeg's atempo are WSOLA, R3 is a phase vocoder): the point
# is the cost of quality, not a like-for-like race. ffmpeg's rubberband filter is Rubber Band's
# default (R2) engine. Environment: MIXGRAPH, RUNS (3), SECONDS_OF_AUDIO (60).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MIXGRAPH=${MIXGRAPH:-$here/../build/mixgraph}
RUNS=${RUNS:-3}
DUR=${SECONDS_OF_AUDIO:-60}
have() { command -v "$1" >/dev/null 2>&1; }
if [ ! -x "$MIXGRAPH" ] || ! have sox; then
    echo "bench_pitch: needs $MIXGRAPH (run make) and sox" >&2
    exit 1
fi
tmp=$(mktemp -d /tmp/mg_bench_pitch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
in=$tmp/in.wav
sox -n -r 48000 -b 24 -c 2 "$tmp/noise.wav" synth "$DUR" pinknoise vol 0.3
sox -n -r 48000 -b 24 -c 2 "$tmp/tone.wav" synth "$DUR" sine 440 vol 0.3
sox -m "$tmp/noise.wav" "$tmp/tone.wav" "$in"

cat >"$tmp/p.lua" <<'EOF'
local g, args = ...
local s
if args.kind == "rate" then
  s = g:file{ path = args.path, rate = 1.25 }
else
  s = g:stretch{ path = args.path, tempo = args.tempo or 1, pitch = args.pitch or 0 }
end
local _ = s >> g.output
EOF
mg() { echo "$MIXGRAPH render $tmp/p.lua -o $tmp/mg.wav --quiet --set path=$in $*"; }

best_of() { # CMD...: best wall-clock seconds of RUNS runs
    local b="" t0 t1
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        b=$(awk -v a="$t0" -v z="$t1" -v b="$b" 'BEGIN { d = z - a; print (b == "" || d < b) ? d : b }')
    done
    echo "$b"
}

row() { # LABEL MG_SECONDS TOOL_SECONDS
    printf '  %-34s %9.3f %9.3f %10.2f\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN { print a / b }')"
}

echo "bench_pitch: ${DUR} s of 48 kHz stereo, best of $RUNS runs (seconds)"
printf '  %-34s %9s %9s %10s\n' "task vs tool" mixgraph tool "mg/tool"
t_mg=$(best_of $(mg --set tempo=1.25))
row "tempo 1.25 vs sox tempo" "$t_mg" "$(best_of sox "$in" "$tmp/s.wav" tempo 1.25)"
if have ffmpeg; then
    row "tempo 1.25 vs ffmpeg atempo" "$t_mg" \
        "$(best_of ffmpeg -y -loglevel error -i "$in" -af atempo=1.25 "$tmp/f.wav")"
    row "tempo 1.25 vs ffmpeg rubberband (R2)" "$t_mg" \
        "$(best_of ffmpeg -y -loglevel error -i "$in" -af rubberband=tempo=1.25 "$tmp/f.wav")"
fi
t_mg=$(best_of $(mg --set pitch=3))
row "pitch +3 vs sox pitch" "$t_mg" "$(best_of sox "$in" "$tmp/s.wav" pitch 300)"
if have ffmpeg; then
    row "pitch +3 vs ffmpeg rubberband (R2)" "$t_mg" \
        "$(best_of ffmpeg -y -loglevel error -i "$in" -af rubberband=pitch=1.189207 "$tmp/f.wav")"
fi
t_mg=$(best_of $(mg --set kind=rate))
row "varispeed 1.25 vs sox speed" "$t_mg" "$(best_of sox "$in" "$tmp/s.wav" speed 1.25 rate -v 48k)"
if have ffmpeg; then
    row "varispeed 1.25 vs ffmpeg asetrate" "$t_mg" \
        "$(best_of ffmpeg -y -loglevel error -i "$in" -af asetrate=60000,aresample=48000 "$tmp/f.wav")"
fi
