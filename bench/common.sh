# common.sh: shared by the mix benchmarks (sourced): the eight test stems and timing.
#   make_stems DIR SECONDS   eight stereo 48 kHz 24-bit stems DIR/stem1.wav .. stem8.wav
#   best CMD...              best wall time of $RUNS runs of CMD, in seconds
#   setup_stems NAME SECONDS TOOL...
#                            check TOOLs and $MIXGRAPH, make $tmp (removed on exit) and the
#                            stems in it
make_stems() {
    local dir=$1 dur=$2
    for i in 1 2 3 4 5 6 7 8; do
        local f=$((55 * i))
        sox -n -r 48000 -b 24 -c 2 "$dir/stem$i.wav" synth "$dur" square $f sine $((f * 3 / 2)) \
            synth pinknoise amod 0.3 vol 0.4 2>/dev/null
    done
}

best() {
    local b=999999
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        b=$(echo "$t1 - $t0" | bc -l | awk -v b="$b" '{ print ($1 < b) ? $1 : b }')
    done
    echo "$b"
}

# The sox command line of bench_mix.sh's mix as an array SOX_MIX_PIPES (one effect pipe per
# stem plus the reverb pipe), for `sox -m "${SOX_MIX_PIPES[@]}" ...`.
sox_mix_pipes() {
    local dir=$1
    SOX_MIX_PIPES=()
    for i in 1 2 3 4 5 6 7 8; do
        local p l r
        p=$(awk -v i="$i" 'BEGIN { p = (i - 4.5) / 4; th = (p + 1) * 3.14159265 / 4;
                                  printf "%.4f %.4f", cos(th), sin(th) }')
        l=${p% *} r=${p#* }
        SOX_MIX_PIPES+=("|sox $dir/stem$i.wav -p highpass 80 equalizer $((1000 + 300 * i)) 1q 3 \
compand 0.01,0.1 6:-100,-100,-18,-18,0,-13.5 0 -90 0 gain -9 remix 1v$l,2v$l 1v$r,2v$r")
    done
    SOX_MIX_PIPES+=("|sox -m $dir/stem1.wav $dir/stem2.wav $dir/stem3.wav $dir/stem4.wav \
$dir/stem5.wav $dir/stem6.wav $dir/stem7.wav $dir/stem8.wav -p gain -18 reverb -w")
}

setup_stems() {
    local name=$1 dur=$2 t
    shift 2
    for t in "$@"; do
        command -v "$t" >/dev/null || { echo "$name: needs $t" >&2; exit 1; }
    done
    [ -x "$MIXGRAPH" ] || { echo "$name: $MIXGRAPH not built (run make)" >&2; exit 1; }
    tmp=$(mktemp -d "/tmp/mg_$name.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "$name: generating 8 stereo stems of $dur s ..."
    make_stems "$tmp" "$dur"
}
