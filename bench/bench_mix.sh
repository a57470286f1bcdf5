#!/usr/bin/env bash
# bench_mix.sh: an 8-track mix in mixgraph against the same chain in sox, in the same run.
#
# Eight stereo 48 kHz 24-bit stems of $SECONDS_OF_AUDIO seconds (default 180) are generated
# first. Per track: high-pass 80 Hz, peaking EQ, compressor (ratio 4, threshold -18 dB,
# attack 10 ms, release 100 ms), gain and pan; a reverb send; a stereo bus. sox does it as
# `sox -m` of one effect pipe per track plus one reverb pipe fed by the mixed stems (sox cannot
# tap a send, so its reverb input is the unprocessed sum: slightly less work than mixgraph's).
# Both run pinned to one core (taskset -c 0); the best of $RUNS (default 3) is reported, with
# mixgraph's peak memory (maximum RSS). Targets: mixgraph at least 3x faster than sox,
# peak memory under 64 MiB. A missed target is reported, not fatal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MIXGRAPH=${MIXGRAPH:-$here/../build/mixgraph}
RUNS=${RUNS:-3}
DUR=${SECONDS_OF_AUDIO:-180}
. "$here/common.sh"
setup_stems bench_mix "$DUR" sox taskset
pin="taskset -c 0"

mg_run() { $pin "$MIXGRAPH" render "$here/mix8.lua" -o "$tmp/mg.wav" --set dir="$tmp" --quiet; }
sox_run() {
    sox_mix_pipes "$tmp"
    $pin sox -m "${SOX_MIX_PIPES[@]}" -b 24 "$tmp/sox.wav"
}

mg_run || { echo "bench_mix: mixgraph failed" >&2; exit 1; }
sox_run || { echo "bench_mix: sox failed" >&2; exit 1; }
t_mg=$(best mg_run)
t_sox=$(best sox_run)
rss=$(/usr/bin/time -f %M $pin "$MIXGRAPH" render "$here/mix8.lua" -o "$tmp/mg.wav" \
      --set dir="$tmp" --quiet 2>&1 >/dev/null | tail -1)
ratio=$(echo "$t_sox / $t_mg" | bc -l)
printf 'bench_mix: 8 stereo tracks x %s s at 48 kHz, one core, best of %s\n' "$DUR" "$RUNS"
printf '  %-10s %10s\n' tool seconds
printf '  %-10s %10.2f   (%.0fx realtime, peak memory %.1f MiB)\n' mixgraph "$t_mg" \
    "$(echo "$DUR / $t_mg" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
printf '  %-10s %10.2f\n' sox "$t_sox"
printf '  mixgraph is %.2fx faster than sox (target >= 3): %s\n' "$ratio" \
    "$(echo "$ratio >= 3" | bc -l | sed 's/1/ok/; s/0/MISSED/')"
printf '  peak memory target (< 64 MiB): %s\n' "$([ "$rss" -lt 65536 ] && echo ok || echo MISSED)"
