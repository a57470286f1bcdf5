#!/usr/bin/env bash
# bench_master.sh: the full chain, mixgraph against sox and ffmpeg in the same run: the 8-track
# mix of bench_mix.sh, a master chain (low and high shelf EQ, glue compressor, tanh saturation
# at 4x oversampling, true-peak limiter) and normalisation to -14 LUFS with true peak at or
# under -1 dBTP. Each tool does the job as a user would:
#   mixgraph  `mixgraph render bench/mix8.lua` to a float file, then `mixgraph master --target
#             -14 --ceiling -1` (patches/master.lua; its closed loop renders the chain a few
#             times and checks the file).
#   sox       no loudness meter or normaliser: pass 1 mixes and runs the chain (saturation at
#             192 kHz between two `rate` effects) into a float file, ffmpeg's ebur128 measures
#             it, pass 2 applies the gain through a compand limiter at -1 dBFS (sox has no
#             true-peak limiter).
#   ffmpeg    pass 1 mixes and runs the chain (asoftclip between two aresample to 192 kHz) into
#             a float file, then loudnorm's two passes (measure, then linear normalisation with
#             the measured values), -ar 48000.
# Every output is then measured by ffmpeg's ebur128 (peak=true), an independent meter, and
# checked: integrated within 0.1 LU of -14, true peak <= -1 dBTP. Timed runs are pinned to one
# core; the best of $RUNS (default 3: sox's pipeline of processes varies by up to 2x from run to
# run on one core) is reported. Target: mixgraph >= 5x faster than sox.
# A missed target is reported, not fatal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MIXGRAPH=${MIXGRAPH:-$here/../build/mixgraph}
RUNS=${RUNS:-3}
DUR=${SECONDS_OF_AUDIO:-180}
. "$here/common.sh"
setup_stems bench_master "$DUR" sox ffmpeg taskset bc
pin="taskset -c 0"

# "I TP" of a file by ffmpeg's ebur128 (pinned too: sox's job includes one measurement), to
# 0.01: the integrated loudness from the filter's metadata (3 decimals; its summary has 1), the
# true peak from the largest linear lavfi.r128.true_peak (3 decimals).
measure() {
    $pin ffmpeg -hide_banner -nostats -i "$1" \
        -af ebur128=peak=true:metadata=1,ametadata=mode=print -f null - 2>&1 |
        awk -F= '/lavfi\.r128\.I=/ { i = $2 } /lavfi\.r128\.true_peak=/ { if ($2 + 0 > p) p = $2 + 0 }
                 END { printf "%.2f %.2f\n", i, (p > 0 ? 20 * log(p) / log(10) : -999) }'
}

mg_run() {
    $pin "$MIXGRAPH" render "$here/mix8.lua" -o "$tmp/mgmix.wav" --set dir="$tmp" --bits 32f \
        --quiet &&
        $pin "$MIXGRAPH" master "$tmp/mgmix.wav" -o "$tmp/mg.wav" --target -14 --ceiling -1 -q
}

CHAIN_SOX="bass +1 90 treble +1.5 11000 compand 0.03,0.25 6:-100,-100,-18,-18,0,-9 0 -90 0.03 \
rate -v 192k overdrive 2 rate -v 48k"
sox_run() {
    sox_mix_pipes "$tmp"
    # shellcheck disable=SC2086
    $pin sox -m "${SOX_MIX_PIPES[@]}" -e floating-point -b 32 "$tmp/soxpre.wav" $CHAIN_SOX &&
        local m i g
    m=$(measure "$tmp/soxpre.wav")
    i=${m% *}
    g=$(echo "-14 - ($i)" | bc -l)
    $pin sox "$tmp/soxpre.wav" -b 24 "$tmp/sox.wav" gain "$g" \
        compand 0.001,0.05 6:-2,-2,-1,-1,0,-1 0 -90 0.002
}

ff_graph() { # the 8-track mix and the master chain as an ffmpeg filtergraph
    local fg="" i
    for i in 1 2 3 4 5 6 7 8; do
        local p l r
        p=$(awk -v i="$i" 'BEGIN { p = (i - 4.5) / 4; th = (p + 1) * 3.14159265 / 4;
                                  printf "%.4f %.4f", cos(th), sin(th) }')
        l=${p% *} r=${p#* }
        fg+="[$((i - 1)):a]highpass=f=80,equalizer=f=$((1000 + 300 * i)):t=q:w=1:g=3,"
        fg+="acompressor=threshold=-18dB:ratio=4:attack=10:release=100,volume=-9dB,"
        fg+="pan=stereo|c0=$l*c0+$l*c1|c1=$r*c0+$r*c1[t$i];"
    done
    fg+="[t1][t2][t3][t4][t5][t6][t7][t8]amix=inputs=8:normalize=0,asplit[dry][wet];"
    fg+="[wet]volume=-18dB,aecho=0.8:0.7:60|90:0.3|0.2[verb];"
    fg+="[dry][verb]amix=inputs=2:normalize=0,"
    fg+="bass=g=1:f=90,treble=g=1.5:f=11000,"
    fg+="acompressor=threshold=-18dB:ratio=1.5:attack=30:release=250:knee=6,"
    fg+="aresample=192000,asoftclip=type=tanh,aresample=48000[out]"
    echo "$fg"
}
ff_run() {
    local ins=() i
    for i in 1 2 3 4 5 6 7 8; do ins+=(-i "$tmp/stem$i.wav"); done
    $pin ffmpeg -hide_banner -loglevel error -y "${ins[@]}" -filter_complex "$(ff_graph)" \
        -map "[out]" -c:a pcm_f32le "$tmp/ffpre.wav" || return 1
    local js
    js=$($pin ffmpeg -hide_banner -nostats -i "$tmp/ffpre.wav" \
        -af loudnorm=I=-14:TP=-1:LRA=20:print_format=json -f null - 2>&1 | sed -n '/^{/,/^}/p')
    local mi mtp mlra mth off
    mi=$(echo "$js" | awk -F'"' '/input_i/ { print $4 }')
    mtp=$(echo "$js" | awk -F'"' '/input_tp/ { print $4 }')
    mlra=$(echo "$js" | awk -F'"' '/input_lra/ { print $4 }')
    mth=$(echo "$js" | awk -F'"' '/input_thresh/ { print $4 }')
    off=$(echo "$js" | awk -F'"' '/target_offset/ { print $4 }')
    $pin ffmpeg -hide_banner -loglevel error -y -i "$tmp/ffpre.wav" -af \
        "loudnorm=I=-14:TP=-1:LRA=20:measured_I=$mi:measured_TP=$mtp:measured_LRA=$mlra:measured_thresh=$mth:offset=$off:linear=true" \
        -ar 48000 -c:a pcm_s24le "$tmp/ff.wav"
}

status() { # NAME FILE: "I TP on-target?"
    local m i tp verdict
    m=$(measure "$2")
    i=${m% *} tp=${m#* }
    verdict=$(awk -v i="$i" -v t="$tp" 'BEGIN { d = i + 14; if (d < 0) d = -d;
        print (d <= 0.1 && t <= -1.0) ? "on target" : "MISSED" }')
    printf '  %-10s %10s %8s LUFS %8s dBTP  %s\n' "$1" "$3" "$i" "$tp" "$verdict"
}

mg_ok=1
mg_run || { mg_ok=0; echo "bench_master: mixgraph master refused (see above)" >&2; \
            $pin "$MIXGRAPH" master "$tmp/mgmix.wav" -o "$tmp/mg.wav" --target -14 --ceiling -1 \
            >&2 || true; }
sox_run || { echo "bench_master: sox failed" >&2; exit 1; }
ff_run || { echo "bench_master: ffmpeg failed" >&2; exit 1; }
t_mg=$(best mg_run)
t_sox=$(best sox_run)
t_ff=$(best ff_run)
printf 'bench_master: 8 stereo tracks x %s s at 48 kHz, mix + master chain + -14 LUFS / -1 dBTP,\n' "$DUR"
printf '  one core, best of %s; loudness and true peak of each result by ffmpeg ebur128\n' "$RUNS"
printf '  %-10s %10s %13s %13s\n' tool seconds integrated "true peak"
if [ "$mg_ok" = 1 ]; then status mixgraph "$tmp/mg.wav" "$(printf %.2f "$t_mg")"
else printf '  %-10s %10.2f   (refused: no file)\n' mixgraph "$t_mg"; fi
status sox "$tmp/sox.wav" "$(printf %.2f "$t_sox")"
status ffmpeg "$tmp/ff.wav" "$(printf %.2f "$t_ff")"
r_sox=$(echo "$t_sox / $t_mg" | bc -l)
r_ff=$(echo "$t_ff / $t_mg" | bc -l)
printf '  mixgraph is %.2fx faster than sox (target >= 5): %s; %.2fx faster than ffmpeg\n' \
    "$r_sox" "$(echo "$r_sox >= 5" | bc -l | sed 's/1/ok/; s/0/MISSED/')" "$r_ff"
