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
#            [--settle SEC] [--ws-load PATH] [--backend-pid PID]
#            [-- extra ws-load options]
#
# --backend-pid PID also samples that process (a backend of the server)
# and reports its deltas as backend_rss/pss_per_session_bytes.
#
# With a backend (--with-backend): the script starts the servers itself,
# fresh for each measurement, one after the other in the same run:
#
#   builtin  NGINX + the module, ws_gateway_pass builtin:echo;
#   relay    NGINX + the module relaying every session over links
#            (upstream { server ...; ws_gateway_links L; },
#            ws_gateway_pass NAME) to an echo backend of the link
#            protocol: build/backend/echo-backend (--backend c, the
#            default) or scripts/backend/echo.py (--backend python)
#
# with the same worker_processes (reuseport), and prints one JSON line
# with both results ("builtin", "relay"; the relay's also has the
# backend's deltas).  Options of that mode:
#
#   --with-backend     this mode (N defaults to 30000)
#   --backend c|python the relay's backend (default c)
#   --workers W        worker_processes of both (default: N / 10000,
#                      at least 2: a process may have 20,000 open files)
#   --links L          ws_gateway_links (default 2)
#   --port-base P      ports 127.0.0.1:P (builtin), P+1 (relay) and P+2
#                      (the backend); default 2360
#   --so PATH          the module (default: built by scripts/build.sh)
#   --pin              NGINX and the backend on CPU 0, ws-load on CPU 1
#
# The target of the relay: at most 1 KB of worker RSS per idle session.
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
sessions_given=0
conf=
procs=
rate=5000
hold=10
settle=2
ws_load="$root/build/loadgen/ws-load"
extra=()
backend_pid=
with_backend=0
backend_kind=c
mem_workers=
links=2
port_base=2360
so=
pin=0

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
    -n|--sessions)  need_arg "$@"; sessions=$2; sessions_given=1; shift 2 ;;
    -c|--conf)      need_arg "$@"; conf=$2; shift 2 ;;
    -P|--processes) need_arg "$@"; procs=$2; shift 2 ;;
    -r|--rate)      need_arg "$@"; rate=$2; shift 2 ;;
    --hold)         need_arg "$@"; hold=$2; shift 2 ;;
    --settle)       need_arg "$@"; settle=$2; shift 2 ;;
    --ws-load)      need_arg "$@"; ws_load=$2; shift 2 ;;
    --backend-pid)  need_arg "$@"; backend_pid=$2; shift 2 ;;
    --with-backend) with_backend=1; shift ;;
    --backend)      need_arg "$@"; backend_kind=$2; shift 2 ;;
    --workers)      need_arg "$@"; mem_workers=$2; shift 2 ;;
    --links)        need_arg "$@"; links=$2; shift 2 ;;
    --port-base)    need_arg "$@"; port_base=$2; shift 2 ;;
    --so)           need_arg "$@"; so=$2; shift 2 ;;
    --pin)          pin=1; shift ;;
    -h|--help)      usage; exit 0 ;;
    --)             shift; extra=("$@"); break ;;
    *)              die "unknown option \"$1\" (see --help)" ;;
    esac
done

# --with-backend: start the servers, measure each with this script, and
# print both results

if [ "$with_backend" = 1 ]; then
    bench_name=mem-per-session
    top=$root
    # shellcheck source-path=SCRIPTDIR source=bench/lib.sh
    . "$here/bench/lib.sh"

    [ "$sessions_given" = 1 ] || sessions=30000
    is_uint "$sessions" && [ "$sessions" -ge 1 ] || die "invalid -n"
    if [ -z "$mem_workers" ]; then
        mem_workers=$(( (sessions + 9999) / 10000 ))
        [ "$mem_workers" -ge 2 ] || mem_workers=2
    fi
    is_uint "$mem_workers" && [ "$mem_workers" -ge 1 ] \
        || die "invalid --workers"
    is_uint "$links" && [ "$links" -ge 1 ] && [ "$links" -le 64 ] \
        || die "invalid --links"
    is_uint "$port_base" && [ "$port_base" -ge 1 ] \
        && [ "$port_base" -le 65533 ] || die "invalid --port-base"
    case $backend_kind in
    c|python) ;;
    *) die "invalid --backend \"$backend_kind\" (c or python)" ;;
    esac

    # shellcheck disable=SC2034    # lib.sh's
    server_cpu=0
    # shellcheck disable=SC2034    # lib.sh's
    client_cpu=1
    # shellcheck disable=SC2034    # lib.sh's
    worker_connections=19000
    setup_host
    build_module
    ports_free "$port_base" $(( port_base + 1 )) $(( port_base + 2 ))

    out=$root/build/bench/last-mem
    rm -rf "$out"
    mkdir -p "$out"
    copy_module
    trap cleanup EXIT
    trap 'say interrupted; exit 130' INT TERM

    sub_opts=(-n "$sessions" -r "$rate" --hold "$hold" --settle "$settle"
              --ws-load "$ws_load")
    [ -z "$procs" ] || sub_opts+=(-P "$procs")

    measure() {
        # measure NAME MASTER PORT CONF [--backend-pid PID]: this
        # script, on one server, with the client on the client CPU
        local name=$1 m=$2 port=$3 conf=$4 rc=0
        shift 4
        say "$name: $sessions idle sessions, worker_processes" \
            "$mem_workers"
        ${on_client_cpu[@]+"${on_client_cpu[@]}"} "$0" -p "$m" \
            -u "ws://127.0.0.1:$port/echo" -c "$conf" "${sub_opts[@]}" \
            "$@" -- --binary > "$out/$name.json" 2> "$out/$name.stderr" \
            || rc=$?
        [ "$rc" = 0 ] && [ -s "$out/$name.json" ] || {
            tail -n 5 "$out/$name.stderr" >&2
            die "$name: the measurement failed ($rc)"
        }
        say "$name: $(head -n 1 "$out/$name.json")"
    }

    write_echo_conf "$out/builtin" "$mem_workers" - 0 "$port_base"
    start_nginx "$out/builtin" "$port_base"
    mb=$nginx_pid
    sleep 0.3
    measure builtin "$mb" "$port_base" "$out/builtin/nginx.conf"
    stop_nginx "$mb"

    port_r=$(( port_base + 1 ))
    port_be=$(( port_base + 2 ))
    start_backend "$out/backend" "$port_be" "$backend_kind"
    be=$backend_pid
    write_relay_conf "$out/relay" "$mem_workers" "$links" "$port_r" \
        "$port_be"
    start_nginx "$out/relay" "$port_r"
    mr=$nginx_pid
    links_up "$port_be" $(( mem_workers * links ))
    sleep 0.3
    measure relay "$mr" "$port_r" "$out/relay/nginx.conf" \
        --backend-pid "$be"
    # how the sessions were spread: the bytes each link has sent to the
    # backend (OPEN and CLOSE records of its sessions, and heartbeats)
    link_bytes=$(ss -Htni state established "( dport = :$port_be )" \
                 2>/dev/null | grep -o 'bytes_acked:[0-9]*' \
                 | cut -d: -f2 | sort -n | tr '\n' ',' | sed 's/,$//')
    stop_nginx "$mr"
    stop_nginx "$be"

    # the error logs and the backend's stderr: every line is reported
    log_lines=$(cat "$out"/builtin/logs/error.log \
                "$out"/relay/logs/error.log 2>/dev/null \
                | grep -cE '\[(emerg|alert|crit|error|warn)\]' || true)
    be_lines=$(wc -l < "$out/backend/stderr.log")

    jparse "$out/relay.json"
    met=$(awk -v r="$(jv rss_per_session_bytes)" 'BEGIN {
              print (r ~ /^-?[0-9]+$/ ? (r <= 1024 ? "true" : "false") \
                                      : "null") }')
    {
        echo
        echo "worker memory per idle session, bytes; $sessions sessions," \
             "worker_processes $mem_workers, module $module_id"
        printf '  %-22s %8s %8s %12s\n' server rss pss established
        for n in builtin relay; do
            jparse "$out/$n.json"
            printf '  %-22s %8s %8s %12s\n' "$n" \
                "$(jv rss_per_session_bytes)" "$(jv pss_per_session_bytes)" \
                "$(jv sessions_established)"
        done
        printf '  %-22s %8s %8s\n' "  its $backend_kind backend" \
            "$(jv backend_rss_per_session_bytes)" \
            "$(jv backend_pss_per_session_bytes)"
        echo "  relay: bytes sent on each link: ${link_bytes:-?}"
        echo "  relay: ws_gateway_links $links per worker; target: worker" \
             "RSS <= 1024 bytes per session: $([ "$met" = true ] \
             && echo met || echo "NOT met")"
        echo "  error log lines (warn and above): $log_lines;" \
             "backend stderr lines: $be_lines; files: $out"
    } >&2

    printf '{"mode":"with-backend","sessions":%s,"worker_processes":%s,' \
           "$sessions" "$mem_workers"
    printf '"links":%s,"backend":"%s","module":"%s",' \
           "$links" "$backend_kind" "$module_id"
    printf '"builtin":%s,"relay":%s,' "$(head -n 1 "$out/builtin.json")" \
           "$(head -n 1 "$out/relay.json")"
    printf '"relay_link_bytes_out":[%s],' "$link_bytes"
    printf '"relay_rss_target_bytes":1024,"relay_rss_target_met":%s,' "$met"
    printf '"log_lines":%s,"backend_stderr_lines":%s}\n' \
           "${log_lines:-0}" "$be_lines"
    exit 0
fi

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

median_lines() {
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

if [ -n "$backend_pid" ]; then
    is_uint "$backend_pid" && [ -d "/proc/$backend_pid" ] \
        || die "no such process \"$backend_pid\" (--backend-pid)"
    read -r brss_before bpss_before <<< "$(mem_of "$backend_pid")"
fi

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
: > "$tmp/brss"
: > "$tmp/bpss"

for (( i = 0; i < hold; i++ )); do
    read -r r s <<< "$(mem_of "${pids[@]}")"
    echo "$r" >> "$tmp/rss"
    echo "$s" >> "$tmp/pss"
    if [ -n "$backend_pid" ]; then
        read -r r s <<< "$(mem_of "$backend_pid")"
        echo "$r" >> "$tmp/brss"
        echo "$s" >> "$tmp/bpss"
    fi
    sleep 1
done

rss_held=$(median_lines < "$tmp/rss")
pss_held=$(median_lines < "$tmp/pss")
if [ -n "$backend_pid" ]; then
    brss_held=$(median_lines < "$tmp/brss")
    bpss_held=$(median_lines < "$tmp/bpss")
fi

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
if [ -n "$backend_pid" ]; then
    printf '"backend_pid":%s,"backend_rss_before_bytes":%s,' \
           "$backend_pid" "$brss_before"
    printf '"backend_rss_held_bytes":%s,"backend_pss_held_bytes":%s,' \
           "$brss_held" "$bpss_held"
    printf '"backend_rss_per_session_bytes":%s,' \
           "$(per "$brss_held" "$brss_before" "$established")"
    printf '"backend_pss_per_session_bytes":%s,' \
           "$(per "$bpss_held" "$bpss_before" "$established")"
fi
printf '"loadgen_errors":%s,"loadgen_closed_clean":%s}\n' \
       "${load_errors:-null}" "${load_closed:-null}"
