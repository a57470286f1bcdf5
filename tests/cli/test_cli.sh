#!/usr/bin/env bash
# test_cli.sh: the `mixgraph` command as a user meets it: exit codes (0 ok, 1 runtime/I-O,
# 2 usage/patch, 130 interrupted), no file left behind on failure or Ctrl-C, an existing target
# never clobbered by a failed render, byte-identical renders, --set, --help, nodes, check, graph.
# Usage: test_cli.sh path/to/mixgraph source-dir
set -u
MG=$1
SRC=$2
T=$(mktemp -d /tmp/mg_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"
no_leftovers() { # DIR: no temporary render files
    if ls -A "$1" | grep -q '^\..*\.[A-Za-z0-9]\{6\}$'; then fail "temporary file left in $1: $(ls -A "$1")"; else ok; fi
}

cat >"$T/tone.lua" <<'LUA'
local g, args = ...
local o = g:osc{ freq = args.freq or 440, gain = args.gain or -12, duration = args.dur or 0.5 }
local n = g:noise{ color = "pink", gain = -30, seed = args.seed or 1, duration = 0.5 }
local _ = o >> g:pan{ pan = -0.5 } >> g.output
n:to(g.output)
LUA
printf 'local g = ...\nlocal o = g:osc{ freq = 440 }\no.gain = 100\n' >"$T/bad.lua"
printf 'local g = ...\ng:osc{}:to(g.output)\n' >"$T/forever.lua"

# help and usage
expect 0 "$MG" --help;               contains "$T/out" "render PATCH.lua -o OUT"
expect 0 "$MG" render --help;        contains "$T/out" "--duration SECONDS"
for c in check graph nodes analyze; do expect 0 "$MG" "$c" --help; done
expect 2 "$MG";                      contains "$T/err" "usage: mixgraph"
expect 2 "$MG" frobnicate;           contains "$T/err" "unknown command 'frobnicate'"
expect 2 "$MG" render "$T/tone.lua"; contains "$T/err" "missing -o OUT"
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.wav" --rate 1000; contains "$T/err" "out of range"
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.wav" --bits 12
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.xyz"; contains "$T/err" "unknown output format"
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.flac" --bits 32f; contains "$T/err" "FLAC"
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.wav" --set novalue

# a good render, and determinism
expect 0 "$MG" render "$T/tone.lua" -o "$T/a.wav"
[ -s "$T/a.wav" ] && ok || fail "a.wav not written"
expect 0 "$MG" render "$T/tone.lua" -o "$T/b.wav"
cmp -s "$T/a.wav" "$T/b.wav" && ok || fail "two renders differ"
expect 0 "$MG" render "$T/tone.lua" -o "$T/c.wav" --block 7
cmp -s "$T/a.wav" "$T/c.wav" && ok || fail "block size changed the render"
# --set reaches the patch (different seed and frequency change the file)
expect 0 "$MG" render "$T/tone.lua" -o "$T/d.wav" --set freq=880 --set seed=9
cmp -s "$T/a.wav" "$T/d.wav" && fail "--set had no effect" || ok
expect 0 "$MG" render "$T/tone.lua" -o "$T/e.flac" --bits 16 --set dur=0.25
expect 0 "$MG" analyze "$T/e.flac"; contains "$T/out" "FLAC"; contains "$T/out" "0.500 s"
expect 0 "$MG" render "$T/tone.lua" -o "$T/f.wav" --duration 0.1 --rate 44100 --bits 32f
# dither: deterministic, 16-bit by default; none differs; a bad mode is a usage error
expect 0 "$MG" render "$T/tone.lua" -o "$T/g16.wav" --bits 16
expect 0 "$MG" render "$T/tone.lua" -o "$T/h16.wav" --bits 16 --dither tpdf --block 7
cmp -s "$T/g16.wav" "$T/h16.wav" && ok || fail "default 16-bit dither is not tpdf or not deterministic"
expect 0 "$MG" render "$T/tone.lua" -o "$T/i16.wav" --bits 16 --dither none
cmp -s "$T/g16.wav" "$T/i16.wav" && fail "--dither none had no effect" || ok
expect 0 "$MG" render "$T/tone.lua" -o "$T/j16.wav" --bits 16 --dither shaped
expect 2 "$MG" render "$T/tone.lua" -o "$T/x.wav" --dither pink; contains "$T/err" "tpdf, shaped or none"
expect 0 "$MG" analyze "$T/f.wav"; contains "$T/out" "0.100 s"; contains "$T/out" "44100 Hz"

# patch errors: exit 2, file:line message, no output, existing target untouched
cp "$T/a.wav" "$T/keep.wav"
expect 2 "$MG" render "$T/bad.lua" -o "$T/keep.wav"
contains "$T/err" "bad.lua:3: node 'osc1': gain 100 out of range [-144, 24] dB"
cmp -s "$T/a.wav" "$T/keep.wav" && ok || fail "failed render clobbered the target"
expect 2 "$MG" render "$T/bad.lua" -o "$T/new.wav"
[ -e "$T/new.wav" ] && fail "failed render left a file" || ok
expect 2 "$MG" render "$T/forever.lua" -o "$T/new.wav"; contains "$T/err" "plays forever"
[ -e "$T/new.wav" ] && fail "unbounded render left a file" || ok
expect 2 "$MG" render "$T/missing.lua" -o "$T/new.wav"; contains "$T/err" "cannot open"
printf 'local g = ...\nlocal o = g:osc{\n' >"$T/syntax.lua"
expect 2 "$MG" check "$T/syntax.lua"; contains "$T/err" "syntax.lua:3:"

# runtime / I/O failure: exit 1, nothing left behind
expect 1 "$MG" render "$T/tone.lua" -o "$T/no/such/dir/x.wav"
expect 1 "$MG" analyze "$T/nothing.wav"; contains "$T/err" "nothing.wav: No such file"
printf 'not audio' >"$T/junk.wav"
expect 1 "$MG" analyze "$T/junk.wav"; contains "$T/err" "junk.wav"
no_leftovers "$T"

# Ctrl-C: a long render interrupted leaves no file and keeps the old one
"$MG" render "$T/forever.lua" -o "$T/keep.wav" --duration 100000 --rate 192000 2>"$T/err" &
pid=$!
sleep 1
kill -INT $pid
wait $pid
code=$?
[ "$code" -eq 130 ] && ok || fail "interrupted render exit $code (wanted 130)"
contains "$T/err" "interrupted"
cmp -s "$T/a.wav" "$T/keep.wav" && ok || fail "interrupted render clobbered the target"
no_leftovers "$T"

# check, graph, nodes
expect 0 "$MG" check "$T/tone.lua"; contains "$T/out" "output"; contains "$T/out" "length: 0.500 s"
expect 0 "$MG" graph "$T/tone.lua"; contains "$T/out" "digraph"; contains "$T/out" "1ch"
if command -v dot >/dev/null; then
    expect 0 "$MG" graph "$T/tone.lua" --svg "$T/g.svg"; contains "$T/g.svg" "<svg"
fi
expect 0 "$MG" nodes;       contains "$T/out" "osc"; contains "$T/out" "freq"
expect 0 "$MG" nodes gain;  contains "$T/out" "dB"
expect 2 "$MG" nodes nope;  contains "$T/err" "unknown node type 'nope'"

# tempo and key: the loops of patches/tempo_match.lua; a stretched, varispeed render is the
# same whatever the block size
expect 0 "$MG" check "$SRC/patches/tempo_match.lua" --set dir="$T" --set only_loops=true
expect 0 "$MG" analyze --tempo --key "$T/loop_a_120bpm_Am.wav"
contains "$T/out" "120.00 BPM"; contains "$T/out" "A minor"; contains "$T/out" "integrated"
expect 2 "$MG" analyze --tempo; contains "$T/err" "missing FILE"
expect 2 "$MG" analyze --bpm "$T/loop_a_120bpm_Am.wav"; contains "$T/err" "unknown option '--bpm'"
printf 'local g = ...
local s = g:stretch{ path = "%s", length = 2, tempo = 1.1, pitch = 3 }
s.rate = 1.05
s:to(g.output)
' \
    "$T/loop_a_120bpm_Am.wav" >"$T/st.lua"
expect 0 "$MG" render "$T/st.lua" -o "$T/st1.wav"
expect 0 "$MG" render "$T/st.lua" -o "$T/st2.wav" --block 7
cmp -s "$T/st1.wav" "$T/st2.wav" && ok || fail "block size changed a stretch + varispeed render"

# docs/nodes.md is generated from the descriptors and must be current
if [ -f "$SRC/docs/nodes.md" ]; then
    "$MG" nodes --markdown >"$T/nodes.md"
    if cmp -s "$T/nodes.md" "$SRC/docs/nodes.md"; then ok; else
        fail "docs/nodes.md is stale: run 'make docs'"; fi
fi

echo "test_cli: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
