#!/bin/sh
# bench_live.sh: time spent inside mixgraph's audio callback, under a JACK2 dummy server at
# 48 kHz (period 1024; mixgraph's own block is what is measured: PortAudio calls it once per
# block). For 8 and 32 tracks of bench/live_mix.lua (high-pass + EQ + compressor + pan each, a
# reverb send, a master chain), at blocks of 64 and 256: the mean and the largest callback as
# a fraction of the block's period, on one core (taskset); also the 99.9th percentile and the
# thread CPU time of the costliest callback, which a preempted thread does not inflate.
# Target: largest <= 25 % of a 64-frame period with 32 tracks. Spontaneous xruns and late
# callbacks are reported as seen.
set -eu
MG=${MIXGRAPH:-build/mixgraph}
HERE=$(cd "$(dirname "$0")" && pwd)
SECS=${SECS:-10}
command -v jackd >/dev/null || { echo "bench_live: jackd not installed (tools/install-deps)"; exit 0; }
PIN=""
command -v taskset >/dev/null && PIN="taskset -c 0"
printf '%-7s %-6s %-8s %-8s %-8s %-10s %-9s %-6s %-5s\n' tracks block "mean %" "p99.9 %" \
    "max %" "max CPU %" "max ms" xruns late
for tracks in 8 32; do
    for block in 64 256; do
        out=$(sh "$HERE/../tests/rt/jack_server.sh" run "mg_bench_$$" 48000 1024 -- \
            $PIN "$MG" play "$HERE/live_mix.lua" --set tracks=$tracks --block $block \
            --duration "$SECS" 2>&1 | grep "played" || true)
        mean=$(echo "$out" | sed -n 's/.*load mean \([0-9.]*\)%.*/\1/p')
        p999=$(echo "$out" | sed -n 's/.*p99.9 \([0-9.]*\)%.*/\1/p')
        max=$(echo "$out" | sed -n 's/.* max \([0-9.]*\)% (.*/\1/p')
        ms=$(echo "$out" | sed -n 's/.*longest callback \([0-9.]*\) ms.*/\1/p')
        cpu=$(echo "$out" | sed -n 's/.*CPU time at most \([0-9.]*\) ms.*/\1/p')
        cpupct=$(echo "$cpu $block" | awk '{ if ($1 != "") printf "%.1f", 100 * $1 / ($2 / 48.0) }')
        xr=$(echo "$out" | sed -n 's/.*xruns \([0-9]*\);.*/\1/p')
        late=$(echo "$out" | sed -n 's/.*late callbacks \([0-9]*\);.*/\1/p')
        printf '%-7s %-6s %-8s %-8s %-8s %-10s %-9s %-6s %-5s\n' "$tracks" "$block" "$mean" \
            "$p999" "$max" "$cpupct" "$ms" "$xr" "$late"
    done
done
echo "(max: the longest callback in wall time, which includes any preemption of the audio"
echo " thread by the machine; max CPU: the thread CPU time of the costliest callback, as a"
echo " percentage of its period; target: max <= 25 % at 32 tracks, block 64)"
