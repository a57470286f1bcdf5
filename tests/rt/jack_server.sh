#!/bin/sh
# jack_server.sh: start and stop a private JACK2 server (dummy backend, synchronous mode) for the
# real-time tests, so they run against a real audio server on machines without a sound card.
# Runs on the test's own (control) side only; no audio passes through this script.
#
#   jack_server.sh start NAME [RATE] [PERIOD]
#       Start `jackd -n NAME -S -d dummy -r RATE -p PERIOD` (defaults 48000, 1024) in the
#       background and return once it accepts clients (at most 5 s). Writes the pid to
#       $TMPDIR/mg_jack_NAME.pid and the server log to $TMPDIR/mg_jack_NAME.log.
#       A server left running under NAME by an earlier, killed run is stopped first; stale
#       /dev/shm files of NAME (left after a SIGKILL, they make the next start fail with
#       "server already active") are removed.
#   jack_server.sh stop NAME
#       SIGTERM, wait up to 5 s, SIGKILL as a last resort, then remove NAME's /dev/shm files.
#   jack_server.sh run NAME RATE PERIOD -- CMD [ARGS...]
#       start, run CMD with JACK_DEFAULT_SERVER=NAME exported, always stop (also on Ctrl-C or
#       SIGTERM), exit with CMD's status.
#   jack_server.sh status NAME
#       exit 0 if the server NAME accepts clients, 1 otherwise.
#
# Exit status: 0 ok, 1 failure (message and server log on stderr), 2 usage, 77 jackd or its
# tools are not installed (CTest's SKIP_RETURN_CODE).
#
# Every command exports JACK_NO_AUDIO_RESERVATION=1 (no dbus device reservation here) and
# JACK_NO_START_SERVER=1 (a client must never spawn a default server behind the test's back).
# Give every test its own NAME, unique on the machine (/dev/shm and /tmp are shared with every
# other user of the machine, e.g. "mg_<test>_$$"); a NAME should not be a prefix of another
# one followed by "_".

set -u

export JACK_NO_AUDIO_RESERVATION=1
export JACK_NO_START_SERVER=1

SHM_DIR=/dev/shm
STATE_DIR=${TMPDIR:-/tmp}

die() {
    echo "jack_server.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: jack_server.sh start NAME [RATE] [PERIOD]" >&2
    echo "       jack_server.sh stop NAME" >&2
    echo "       jack_server.sh status NAME" >&2
    echo "       jack_server.sh run NAME RATE PERIOD -- CMD [ARGS...]" >&2
    exit 2
}

need_tools() {
    for t in jackd jack_wait; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "jack_server.sh: '$t' not found: install jackd2 to run the real-time tests" \
                "(skipped)" >&2
            exit 77
        fi
    done
}

check_name() {
    case $1 in
    '' | *[!A-Za-z0-9_.-]*) die "bad server name '$1' (use letters, digits, '_', '.', '-')" ;;
    esac
}

check_number() {
    case $2 in
    '' | *[!0-9]*) die "$1 must be a positive integer, got '$2'" ;;
    esac
}

# alive PID: the process exists and is not a zombie (a zombie still answers kill -0).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        # field 3 is the state; the command name in field 2 may hold spaces, cut after ')'
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ "$st" != Z ] || return 1
    fi
    return 0
}

# wait_gone PID: wait up to 3 s until PID no longer exists, not even as a zombie. jackd's shm
# registry tests a server's pid with kill(pid, 0), so a dead but unreaped server still counts
# as "already active" (this container's init reaps orphans only after a while).
wait_gone() {
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 150 ]; do
        sleep 0.02
        i=$((i + 1))
    done
}

# is_our_jackd PID NAME: PID is a live jackd started for server NAME (guards against pid reuse).
is_our_jackd() {
    alive "$1" || return 1
    [ -r "/proc/$1/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "jackd -n $2 " 2>/dev/null
}

# running NAME: a server NAME accepts clients.
running() {
    jack_wait -s "$1" -c 2>/dev/null | grep -q '^running'
}

clean_shm() {
    # server sockets jack_NAME_UID_N and semaphores jack_sem.UID_NAME_CLIENT; the shared
    # memory segments (jack-UID-N) are reclaimed by the next server through jack-shm-registry.
    rm -f "$SHM_DIR/jack_$1_"[0-9]*_[0-9]* "$SHM_DIR/jack_sem."[0-9]*"_$1_"* 2>/dev/null
}

# stop_pid PID NAME: SIGTERM, wait up to 5 s, SIGKILL; reap it when it is our child.
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while alive "$1" && [ $i -lt 250 ]; do
        sleep 0.02
        i=$((i + 1))
    done
    if alive "$1"; then
        echo "jack_server.sh: server '$2' (pid $1) ignored SIGTERM for 5 s, sending SIGKILL" >&2
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    wait_gone "$1"
    return 0
}

do_stop() {
    pidfile="$STATE_DIR/mg_jack_$1.pid"
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && is_our_jackd "$pid" "$1"; then
            stop_pid "$pid" "$1"
        fi
        rm -f "$pidfile"
    fi
    if running "$1"; then
        die "a server '$1' is still running and was not started by this script"
    fi
    clean_shm "$1"
}

do_start() {
    name=$1 rate=$2 period=$3
    pidfile="$STATE_DIR/mg_jack_$name.pid"
    log="$STATE_DIR/mg_jack_$name.log"
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if [ -n "$pid" ] && is_our_jackd "$pid" "$name"; then
            echo "jack_server.sh: stopping server '$name' (pid $pid) left by an earlier run" >&2
            stop_pid "$pid" "$name"
        elif [ -n "$pid" ]; then
            wait_gone "$pid"
        fi
        rm -f "$pidfile"
    fi
    if running "$name"; then
        die "a server '$name' is already running (not started by this script); pick another name"
    fi
    clean_shm "$name"

    # A server killed without its pid file (so not waited for above) is still "active" for
    # jackd until it is reaped: retry that case for up to 3 s.
    tries=0
    jackd -n "$name" -S -d dummy -r "$rate" -p "$period" >"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    i=0
    while [ $i -lt 250 ]; do
        if ! alive "$pid"; then
            wait "$pid" 2>/dev/null
            clean_shm "$name"
            if grep -q 'server already active' "$log" && [ $tries -lt 6 ]; then
                tries=$((tries + 1))
                sleep 0.5
                jackd -n "$name" -S -d dummy -r "$rate" -p "$period" >"$log" 2>&1 &
                pid=$!
                echo "$pid" >"$pidfile"
                continue
            fi
            rm -f "$pidfile"
            echo "jack_server.sh: jackd for server '$name' exited during start; its log:" >&2
            sed 's/^/  | /' "$log" >&2
            exit 1
        fi
        if running "$name"; then
            echo "jack_server.sh: server '$name' up (pid $pid, $rate Hz, period $period)" >&2
            return 0
        fi
        sleep 0.02
        i=$((i + 1))
    done
    echo "jack_server.sh: server '$name' did not accept clients within 5 s; its log:" >&2
    sed 's/^/  | /' "$log" >&2
    stop_pid "$pid" "$name"
    rm -f "$pidfile"
    clean_shm "$name"
    exit 1
}

# on_signal SIG STATUS: pass SIG on to the command of `run`, then exit (the EXIT trap stops
# the server).
on_signal() {
    if [ -n "${cpid:-}" ]; then
        kill "-$1" "$cpid" 2>/dev/null
        wait "$cpid" 2>/dev/null
    fi
    exit "$2"
}

[ $# -ge 2 ] || usage
cmd=$1 name=$2
shift 2
check_name "$name"

case $cmd in
start)
    [ $# -le 2 ] || usage
    rate=${1:-48000} period=${2:-1024}
    check_number RATE "$rate"
    check_number PERIOD "$period"
    need_tools
    do_start "$name" "$rate" "$period"
    ;;
stop)
    [ $# -eq 0 ] || usage
    command -v jack_wait >/dev/null 2>&1 || exit 77
    do_stop "$name"
    ;;
status)
    [ $# -eq 0 ] || usage
    command -v jack_wait >/dev/null 2>&1 || exit 77
    running "$name"
    ;;
run)
    if [ $# -lt 4 ] || [ "$3" != "--" ]; then
        usage
    fi
    rate=$1 period=$2
    shift 3
    check_number RATE "$rate"
    check_number PERIOD "$period"
    need_tools
    # CMD runs in the background so that a signal to this script is handled at once: it is
    # passed on to CMD, and the EXIT trap stops the server every time. fd 3 hands CMD this
    # script's stdin (an asynchronous command would otherwise read /dev/null).
    cpid=
    trap 'do_stop "$name"' EXIT
    trap 'on_signal HUP 129' HUP
    trap 'on_signal INT 130' INT
    trap 'on_signal TERM 143' TERM
    do_start "$name" "$rate" "$period"
    export JACK_DEFAULT_SERVER="$name"
    exec 3<&0
    "$@" <&3 3<&- &
    cpid=$!
    wait "$cpid"
    status=$?
    cpid=
    exit $status
    ;;
*)
    usage
    ;;
esac
