#!/usr/bin/env bash
#
# Worker memory per idle WebSocket session.
#
# Records the RSS and PSS (from /proc/PID/smaps_rollup) of every worker of
# a server under test, holds N idle sessions open with ws-load's idle mode
# (spread over several client processes and source addresses), samples the
# workers while the sessions are held, and prints one JSON line with the
# per-session deltas:
#
#     rss_per_session_bytes = (RSS held - RSS before) / sessions established
#     pss_per_session_bytes = (PSS held - PSS before) / sessions established
#
# "held" is the median of the samples taken while all sessions are open;
# sums are over all workers.  Workers are the children of the master pid
# (for NGINX, those named "nginx: worker process"); a pid without children
# (a single-process server, e.g. scripts/ref/echo_server.py) is measured
# itself.
#
# usage: scripts/mem-per-session.sh (-p PID | --pid-file FILE) -u URL
#            [-n N] [-c nginx.conf] [-P procs] [-r rate] [--hold SEC]
#            [--settle SEC] [--ws-load PATH] [-- extra ws-load options]
#
# example (NGINX, 30000 sessions):
#     scripts/mem-per-session.sh --pid-file /run/nginx.pid \
#         -u ws://127.0.0.1:8080/ws -c /etc/nginx/nginx.conf
#
# example (the Python echo server, a small N):
#     scripts/ref/echo_server.py --port 9001 & \
#     scripts/mem-per-session.sh -p $! -u ws://127.0.0.1:9001/ -n 500

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

pid=
pid_file=
url=
sessions=30000
conf=
procs=
rate=5000
hold=10
settle=2
ws_load="$root/build/loadgen/ws-load"
extra=()

die() {
    echo "mem-per-session: $*" >&2
    exit 1
}

usage() {
    sed -n '3,30s/^# \{0,1\}//p' "$0"
}

is_uint() {
    [[ $1 =~ ^[0-9]+$ ]]
}

need_arg() {
    [ $# -ge 2 ] || die "option $1 needs a value"
}

while [ $# -gt 0 ]; do
    case $1 in
    -p|--pid)       need_arg "$@"; pid=$2; shift 2 ;;
    --pid-file)     need_arg "$@"; pid_file=$2; shift 2 ;;
    -u|--url)       need_arg "$@"; url=$2; shift 2 ;;
    -n|--sessions)  need_arg "$@"; sessions=$2; shift 2 ;;
    -c|--conf)      need_arg "$@"; conf=$2; shift 2 ;;
    -P|--processes) need_arg "$@"; procs=$2; shift 2 ;;
    -r|--rate)      need_arg "$@"; rate=$2; shift 2 ;;
    --hold)         need_arg "$@"; hold=$2; shift 2 ;;
    --settle)       need_arg "$@"; settle=$2; shift 2 ;;
    --ws-load)      need_arg "$@"; ws_load=$2; shift 2 ;;
    -h|--help)      usage; exit 0 ;;
    --)             shift; extra=("$@"); break ;;
    *)              die "unknown option \"$1\" (see --help)" ;;
    esac
done

# inputs

if [ -n "$pid_file" ]; then
    [ -r "$pid_file" ] || die "cannot read pid file \"$pid_file\""
    pid=$(tr -dc '0-9' < "$pid_file")
fi

[ -n "$pid" ] || die "give the master pid (-p) or a pid file (--pid-file)"
is_uint "$pid" && [ -d "/proc/$pid" ] || die "no such process \"$pid\""
[[ $url =~ ^ws://[^/]+(/.*)?$ ]] || die "give the URL as -u ws://HOST:PORT/PATH"
is_uint "$sessions" && [ "$sessions" -ge 1 ] || die "invalid -n \"$sessions\""
is_uint "$rate" && [ "$rate" -ge 1 ] || die "invalid -r \"$rate\""
is_uint "$hold" && [ "$hold" -ge 1 ] || die "invalid --hold \"$hold\""
is_uint "$settle" || die "invalid --settle \"$settle\""

if [ -z "$procs" ]; then
    # about 5000 sessions per client process, well under 20,000 files
    procs=$(( (sessions + 4999) / 5000 ))
fi

is_uint "$procs" && [ "$procs" -ge 1 ] || die "invalid -P \"$procs\""

if [ ! -x "$ws_load" ]; then
    make -s -C "$root/scripts/loadgen" >&2 || die "cannot build ws-load"
fi

# worker_connections, from -c or from the master's own "-c FILE"

if [ -z "$conf" ]; then
    read -r -a cmd < <(tr '\0' ' ' < "/proc/$pid/cmdline") || true
    for (( i = 0; i < ${#cmd[@]}; i++ )); do
        if [ "${cmd[$i]}" = "-c" ] && [ $(( i + 1 )) -lt ${#cmd[@]} ]; then
            conf=${cmd[$(( i + 1 ))]}
        fi
    done
fi

worker_connections=null

if [ -n "$conf" ]; then
    [ -r "$conf" ] || die "cannot read \"$conf\""
    wc_value=$(awk '{ sub(/#.*/, "") }
                    match($0, /worker_connections[ \t]+[0-9]+[ \t]*;/) {
                        v = substr($0, RSTART, RLENGTH)
                        gsub(/[^0-9]/, "", v); print v; exit }' "$conf")
    if [ -n "$wc_value" ]; then
        worker_connections=$wc_value
    fi
fi

# the processes to measure

workers() {
    local kids k all=() named=()

    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)

    for k in $kids; do
        all+=("$k")
        if tr '\0' ' ' < "/proc/$k/cmdline" 2>/dev/null \
           | grep -q 'worker process'; then
            named+=("$k")
        fi
    done

    if [ ${#named[@]} -gt 0 ]; then
        echo "${named[@]}"
    elif [ ${#all[@]} -gt 0 ]; then
        echo "${all[@]}"
    else
        echo "$pid"
    fi
}

# "rss pss" in bytes, summed over the given pids

mem_of() {
    local p rss=0 pss=0 r s

    for p in "$@"; do
        if [ -r "/proc/$p/smaps_rollup" ]; then
            read -r r s < <(awk '/^Rss:/ { r = $2 } /^Pss:/ { s = $2 }
                                 END { print r + 0, s + 0 }' \
                            "/proc/$p/smaps_rollup")
        else
            read -r r s < <(awk '/^Rss:/ { r += $2 } /^Pss:/ { s += $2 }
                                 END { print r + 0, s + 0 }' \
                            "/proc/$p/smaps")
        fi
        rss=$(( rss + r * 1024 ))
        pss=$(( pss + s * 1024 ))
    done

    echo "$rss $pss"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

read -r -a pids <<< "$(workers)"
nworkers=${#pids[@]}

if [ "$worker_connections" != null ] \
   && [ "$sessions" -gt $(( worker_connections * nworkers )) ]; then
    echo "mem-per-session: warning: $sessions sessions exceed" \
         "$nworkers worker(s) x worker_connections $worker_connections" >&2
fi

read -r rss_before pss_before <<< "$(mem_of "${pids[@]}")"

# hold the sessions: ramp, settle, sample; ws-load is stopped (SIGTERM,
# a clean close of every session) once the samples are taken, so its
# duration is only an upper bound

ramp=$(( (sessions + rate - 1) / rate ))
open_timeout=$(( ramp * 2 + 15 ))
duration=$(( open_timeout + settle + hold + 30 ))

tmp=$(mktemp -d)
cleanup() {
    if [ -n "${load_pid-}" ]; then
        kill "$load_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "mem-per-session: ${pids[*]}: rss=$rss_before pss=$pss_before;" \
     "opening $sessions sessions over $procs process(es)" >&2

"$ws_load" idle "$url" -c "$sessions" -P "$procs" -r "$rate" \
    -d "$duration" --close-timeout 10 ${extra[@]+"${extra[@]}"} \
    > "$tmp/result.json" 2> "$tmp/stderr" &
load_pid=$!

# wait for every session to be tried ("ws-load: ready: ...")

deadline=$(( SECONDS + open_timeout ))

until grep -q '^ws-load: ready:' "$tmp/stderr"; do
    if ! kill -0 "$load_pid" 2>/dev/null; then
        cat "$tmp/stderr" >&2
        die "ws-load exited before the sessions were open"
    fi
    if [ $SECONDS -ge $deadline ]; then
        die "sessions not open in time"
    fi
    sleep 0.2
done

established=$(sed -n 's/^ws-load: ready: established=\([0-9]*\).*/\1/p' \
              "$tmp/stderr" | head -n 1)

[ "${established:-0}" -gt 0 ] || die "no session was established"

sleep "$settle"

# sample once a second while held

: > "$tmp/rss"
: > "$tmp/pss"

for (( i = 0; i < hold; i++ )); do
    read -r r s <<< "$(mem_of "${pids[@]}")"
    echo "$r" >> "$tmp/rss"
    echo "$s" >> "$tmp/pss"
    sleep 1
done

rss_held=$(median < "$tmp/rss")
pss_held=$(median < "$tmp/pss")

read -r -a pids_after <<< "$(workers)"

if [ "${pids_after[*]}" != "${pids[*]}" ]; then
    echo "mem-per-session: warning: the worker set changed while" \
         "measuring (${pids[*]} -> ${pids_after[*]})" >&2
fi

# let ws-load close the sessions and report

kill -TERM "$load_pid" 2>/dev/null || true
wait "$load_pid" || echo "mem-per-session: ws-load exited with $?" >&2
sleep 1
load_pid=

read -r rss_after pss_after <<< "$(mem_of "${pids[@]}")"

load_errors=$(grep -o '"total":[0-9]*' "$tmp/result.json" | head -n 1 \
              | cut -d: -f2)
load_closed=$(grep -o '"closed_clean":[0-9]*' "$tmp/result.json" \
              | cut -d: -f2)

per() {
    # (after - before) / sessions, rounded, may be negative
    awk -v a="$1" -v b="$2" -v n="$3" \
        'BEGIN { printf "%.0f", (a - b) / n }'
}

printf '{"url":"%s","master_pid":%s,"workers":[%s],' \
       "$url" "$pid" "$(IFS=,; echo "${pids[*]}")"
printf '"worker_connections":%s,"sessions_requested":%s,' \
       "$worker_connections" "$sessions"
printf '"sessions_established":%s,"client_processes":%s,"samples":%s,' \
       "$established" "$procs" "$hold"
printf '"rss_before_bytes":%s,"rss_held_bytes":%s,"rss_after_bytes":%s,' \
       "$rss_before" "$rss_held" "$rss_after"
printf '"pss_before_bytes":%s,"pss_held_bytes":%s,"pss_after_bytes":%s,' \
       "$pss_before" "$pss_held" "$pss_after"
printf '"rss_per_session_bytes":%s,"pss_per_session_bytes":%s,' \
       "$(per "$rss_held" "$rss_before" "$established")" \
       "$(per "$pss_held" "$pss_before" "$established")"
printf '"loadgen_errors":%s,"loadgen_closed_clean":%s}\n' \
       "${load_errors:-null}" "${load_closed:-null}"
