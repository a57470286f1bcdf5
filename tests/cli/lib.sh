# lib.sh: the checks shared by the command-line test scripts (sourced after T, the scratch
# folder, is set). Counts go to $checks and $fails; expect keeps output in $T/out and $T/err.
fails=0
checks=0
ok() { checks=$((checks + 1)); }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); checks=$((checks + 1)); }
# expect CODE CMD...: run, compare the exit status; output kept in $T/out and $T/err
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
