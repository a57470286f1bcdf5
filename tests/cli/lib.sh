# lib.sh: helpers shared by the command-line test scripts (sourced; expects $T, a scratch dir).
# ok/fail count checks; expect CODE CMD... runs a command and compares its exit status, keeping
# its output in $T/out and $T/err; contains FILE TEXT looks for a fixed string.
fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); checks=$((checks + 1)); }
expect() {
    local want=$1; shift
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "exit $got (wanted $want): $*"; sed 's/^/    /' "$T/err" >&2; fi
}
contains() { # FILE TEXT
    if grep -qF -- "$2" "$1"; then ok; else fail "'$2' not in $(basename "$1"):"; sed 's/^/    /' "$1" >&2; fi
}
