#!/usr/bin/env bash
# bench_io.sh: file I/O speed. A 3-minute 48 kHz 24-bit stereo WAV is copied by
#   mixgraph render (a `file -> output` patch), sox and ffmpeg,
# timed in the same run (hyperfine, or best of $RUNS with date), printed as a table with the
# ratios mixgraph/sox and mixgraph/ffmpeg. The mixgraph copy must be bit-identical to the input.
# Target: mixgraph no slower than sox.
#
# Environment: MIXGRAPH (default: build/mixgraph next to this script's parent), RUNS (5),
# SECONDS_OF_AUDIO (180). Exit status 1 when a command fails or the copy is not bit-identical;
# a missed speed target is reported, not fatal (timings are noisy on shared machines).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MIXGRAPH=${MIXGRAPH:-$here/../build/mixgraph}
RUNS=${RUNS:-5}
DUR=${SECONDS_OF_AUDIO:-180}

have() { command -v "$1" >/dev/null 2>&1; }

if [ ! -x "$MIXGRAPH" ]; then
    echo "bench_io: $MIXGRAPH not built (run make)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/mg_bench_io.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
in=$tmp/in.wav

# The patch: the only place that knows the Lua patch syntax.
cat >"$tmp/copy.lua" <<'EOF'
local g, args = ...
local _ = g:file{ path = args.path } >> g.output
EOF
mg_cmd="$MIXGRAPH render $tmp/copy.lua -o $tmp/out_mg.wav --bits 24 --set path=$in"

# ---- input: pink noise at -6 dBFS peak-ish, 24-bit stereo ----
if have sox; then
    sox -n -r 48000 -b 24 -c 2 "$in" synth "$DUR" pinknoise pinknoise vol 0.5
elif have ffmpeg; then
    ffmpeg -y -loglevel error -f lavfi \
        -i "anoisesrc=color=pink:sample_rate=48000:amplitude=0.5:duration=$DUR" \
        -ac 2 -c:a pcm_s24le "$in"
else
    echo "bench_io: needs sox or ffmpeg to generate the input" >&2
    exit 1
fi

# ---- the contenders: name|command ----
tools=("mixgraph|$mg_cmd")
have sox && tools+=("sox|sox $in $tmp/out_sox.wav")
have ffmpeg && tools+=("ffmpeg|ffmpeg -y -loglevel error -i $in -c:a pcm_s24le $tmp/out_ff.wav")

# ---- correctness first: the copy is bit-identical ----
$mg_cmd
pcm_md5() {
    if have sox; then
        sox "$1" -t raw - | md5sum | cut -d' ' -f1
    else
        ffmpeg -loglevel error -i "$1" -f s24le - | md5sum | cut -d' ' -f1
    fi
}
md5_in=$(pcm_md5 "$in")
md5_out=$(pcm_md5 "$tmp/out_mg.wav")
if [ "$md5_in" = "$md5_out" ]; then
    identical="yes"
else
    identical="NO"
fi

# ---- timing: best (minimum) wall-clock seconds of $RUNS runs ----
declare -A best
if have hyperfine; then
    args=()
    for t in "${tools[@]}"; do args+=(-n "${t%%|*}" "${t#*|}"); done
    hyperfine -N --warmup 1 --runs "$RUNS" --style basic --export-csv "$tmp/times.csv" \
        "${args[@]}" >&2
    # command,mean,stddev,median,user,system,min,max
    while IFS=, read -r name _mean _sd _med _user _sys min _max; do
        [ "$name" = "command" ] && continue
        best[$name]=$min
    done <"$tmp/times.csv"
    method="hyperfine, min of $RUNS runs after 1 warm-up"
else
    for t in "${tools[@]}"; do
        name=${t%%|*} cmd=${t#*|} b=""
        $cmd # warm-up
        for _ in $(seq "$RUNS"); do
            t0=$(date +%s.%N)
            $cmd
            t1=$(date +%s.%N)
            b=$(awk -v a="$t0" -v z="$t1" -v b="$b" 'BEGIN { d = z - a; print (b == "" || d < b) ? d : b }')
        done
        best[$name]=$b
    done
    method="date, best of $RUNS runs after 1 warm-up"
fi

# ---- report ----
mg=${best[mixgraph]}
echo
echo "bench_io: ${DUR} s of 48 kHz 24-bit stereo WAV copied ($method)"
printf '  %-10s %10s %14s\n' tool seconds "mixgraph/tool"
for t in "${tools[@]}"; do
    name=${t%%|*}
    printf '  %-10s %10.4f %14.3f\n' "$name" "${best[$name]}" \
        "$(awk -v a="$mg" -v b="${best[$name]}" 'BEGIN { print a / b }')"
done
echo "  mixgraph output bit-identical to the input: $identical"
if [ -n "${best[sox]:-}" ]; then
    if awk -v a="$mg" -v b="${best[sox]}" 'BEGIN { exit !(a <= b) }'; then
        echo "  target (no slower than sox): met"
    else
        echo "  target (no slower than sox): MISSED"
    fi
fi
[ "$identical" = "yes" ]
