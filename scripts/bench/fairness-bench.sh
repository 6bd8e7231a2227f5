#!/usr/bin/env bash
#
# Fairness benchmark, loopback only: do busy sessions keep the worker
# from the others?  Side by side:
#
#   module  NGINX + ngx_ws_gateway_module's echo, with its status page
#   stock   stock NGINX (no module loaded) proxying WebSocket to a
#           second NGINX that runs the module's echo (as in
#           echo-bench.sh); its figures include the backend hop
#
# Each configuration is a fresh NGINX (1 worker, pinned to CPU 0; the
# load generator on CPU 1) with, at the same time:
#
#   --idle     idle sessions (ws-load idle)
#   --bulk     bulk senders (ws-load flood): --bulk-size byte messages
#              as fast as the sockets take them; they read the echoes,
#              so nothing piles up (no memory pressure)
#   --clients  echo sessions, open loop at --echo-rate msg/s in total,
#              64-byte binary messages: p50/p99/max from each message's
#              intended send time
#
# The echo sessions are measured for --duration seconds once the bulk
# senders have run for a second.  For the module, /status is read at the
# end of that window, while the load still runs: the worker's event
# latency (kernel receive to handler, sampled reads) and loop lag
# (lateness of a 100 ms timer) over its last 10 s window (60 s with
# --full), that is from the histogram differences over the measurement,
# and the bulk throughput from the byte counters read at its start and
# end.  Target: event latency p99 < 5 ms and echo p99 < 5 ms.
#
# The table goes to stderr, one JSON line to stdout (and
# build/bench/results.jsonl).
#
# usage: scripts/bench/fairness-bench.sh [--quick | --full] [options]
#
#   --quick              10 s measurement per configuration (< 60 s)
#   (default)            the same, 3 rounds (< 2 min)
#   --full               60 s (the 60 s window), 1 round
#   --rounds N           rounds (module then stock in each)
#   --configs LIST       module,stock (default both)
#   --bulk N             bulk senders (default 200)
#   --bulk-size BYTES    their message size (default 4096)
#   --idle N             idle sessions (default 1000)
#   --clients N          echo sessions (default 20)
#   --echo-rate N        their messages/s in total (default 1000)
#   --bulk-nice N        the bulk senders' ws-load runs under nice -n N
#                        (default 10) so that on the shared client CPU
#                        the echo clients are not delayed by it
#   --so PATH            the module to load (default: scripts/build.sh)
#   --workers N          worker_processes (default 1)
#   --server-cpu LIST    CPUs for every NGINX process (default 0)
#   --client-cpu LIST    CPUs for ws-load (default 1)
#   --no-pin             no taskset
#   --port-base N        ports N to N+2 on 127.0.0.1 (default 5020)
#   --wait-quiet SEC     before each configuration, wait up to SEC s
#                        (default 30, --quick 0) until the machine
#                        is less than 15% busy (it may be shared)
#   -h, --help           this text
#
# Bounds: at most --bulk + --idle + --clients sessions at a time, every
# ws-load run ends by itself (-d).  Only the processes the script
# started are stopped.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=fairness-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
out=$top/build/bench/last-fairness

mode=default
configs=module,stock
rounds=
duration=
bulk=200
bulk_size=4096
idle=1000
clients=20
echo_rate=1000
bulk_nice=10
workers=1
worker_connections=19000
server_cpu=0
client_cpu=1
pin=1
so=
quiet_max=
port_base=5020

while [ $# -gt 0 ]; do
    case $1 in
    --configs)      need_arg "$@"; configs=$2; shift 2 ;;
    --bulk)         need_arg "$@"; bulk=$2; shift 2 ;;
    --bulk-size)    need_arg "$@"; bulk_size=$2; shift 2 ;;
    --idle)         need_arg "$@"; idle=$2; shift 2 ;;
    --clients)      need_arg "$@"; clients=$2; shift 2 ;;
    --echo-rate)    need_arg "$@"; echo_rate=$2; shift 2 ;;
    --bulk-nice)    need_arg "$@"; bulk_nice=$2; shift 2 ;;
    --wait-quiet)   need_arg "$@"; quiet_max=$2; shift 2 ;;
    --port-base)    need_arg "$@"; port_base=$2; shift 2 ;;
    *)              common_opt "$@"
                    [ "$opt_words" -gt 0 ] \
                        || die "unknown option \"$1\" (see --help)"
                    shift "$opt_words" ;;
    esac
done

case $mode in
quick)   : "${rounds:=1}" "${duration:=10}" "${quiet_max:=0}" ;;
full)    : "${rounds:=1}" "${duration:=60}" ;;
*)       : "${rounds:=3}" "${duration:=10}" ;;
esac
: "${quiet_max:=30}"

need_uints rounds duration bulk bulk_size idle clients echo_rate workers \
           port_base
[[ $bulk_nice =~ ^-?[0-9]+$ ]] || die "invalid --bulk-nice"
[ "$duration" -ge 10 ] || die "--duration must be 10 s or more (the" \
                              "status page's shortest full window)"
[ $(( 2 * (bulk + idle + clients) + 100 )) -le 19000 ] \
    || die "--bulk + --idle + --clients must stay under 9,400"

# the status window that the measurement covers
window=10s
[ "$duration" -lt 60 ] || window=60s

IFS=, read -r -a clist <<< "$configs"
for c in "${clist[@]}"; do
    case $c in
    module|stock) ;;
    *) die "unknown configuration \"$c\"" ;;
    esac
done

setup_host
build_module
build_loadgen

port_module=$port_base
port_stock=$(( port_base + 1 ))
port_backend=$(( port_base + 2 ))
ports_free "$port_module" "$port_stock" "$port_backend"

rm -rf "$out"
mkdir -p "$out/runs"
copy_module

trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

start_config() {
    # start_config CONFIG ROUND: a fresh instance; sets $master, $url,
    # $status_url (module only) and $backend_master (stock only)
    local prefix=$out/$1-r$2

    rm -rf "$prefix"
    backend_master=
    status_url=
    echo_http_extra=

    if [ "$1" = stock ]; then
        write_echo_conf "$prefix/backend" "$workers" - 0 "$port_backend"
        write_proxy_conf "$prefix/proxy" "$workers" "$port_stock" \
            "$port_backend"
        start_nginx "$prefix/backend" "$port_backend"
        backend_master=$nginx_pid
        start_nginx "$prefix/proxy" "$port_stock"
        master=$nginx_pid
        url=ws://127.0.0.1:$port_stock/echo
    else
        write_echo_conf "$prefix" "$workers" - 1 "$port_module"
        start_nginx "$prefix" "$port_module"
        master=$nginx_pid
        url=ws://127.0.0.1:$port_module/echo
        status_url="http://127.0.0.1:$port_module/status?format=json"
    fi
}

stop_config() {
    stop_nginx "$master"
    [ -z "$backend_master" ] || stop_nginx "$backend_master"
}

load_start() {
    # load_start FILE NICE ws-load-args...: a ws-load job; sets $job_pid
    local f=$1 n=$2
    shift 2
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} nice -n "$n" \
        "$ws_load" "$@" -q >"$f.json" 2>"$f.stderr" &
    job_pid=$!
    jobs_running+=("$job_pid")
}

load_wait() {
    # load_wait PID FILE TAG: waits, and notes a failed run
    local rc=0
    wait "$1" || rc=$?
    job_done "$1"
    [ "$rc" = 0 ] && [ -s "$2.json" ] \
        || anomalies+=("$3: ws-load exited with $rc: $(tail -n 2 \
                        "$2.stderr" | tr '\n' ' ')")
}

wait_ready() {
    # wait_ready FILE: until ws-load's "ready" line (at most 10 s)
    local i
    for (( i = 0; i < 100; i++ )); do
        grep -q 'ws-load: ready' "$1.stderr" 2>/dev/null && return 0
        sleep 0.1
    done
    anomaly "$1: not ready after 10 s"
}

get_status() {
    # get_status FILE: the status page on one line (for jparse), or an
    # empty file
    { curl -s --max-time 2 "$status_url" 2>/dev/null || true; } \
        | tr -d '\n' > "$1"
}

window_figures() {
    # window_figures FILE: "event_p99 event_max lag_p99 lag_max" of the
    # worker with the largest event latency p99 in the $window window
    # (each worker's object has p99; the totals' only count and max)
    grep -o "\"$window\":{[^{}]*\"event_latency_us\":{[^{}]*},\"loop_lag_us\":{[^{}]*}" \
        "$1" 2>/dev/null \
        | sed -n 's/.*"event_latency_us":{[^}]*"p99":\([0-9]*\)[^}]*"max":\([0-9]*\)}.*"loop_lag_us":{[^}]*"p99":\([0-9]*\)[^}]*"max":\([0-9]*\)}.*/\1 \2 \3 \4/p' \
        | sort -n -k1,1 | tail -n 1
}

declare -A vals=()
anomalies=()

run_config() {
    local c=$1 r=$2 f=$out/runs/$1-r$2 ip bp ep wpids fig b0 b1 t0 t1

    wait_quiet "$quiet_max" 15
    [ -z "$quiet_note" ] || anomaly "$c-r$r: $quiet_note"
    start_config "$c" "$r"
    # shellcheck disable=SC2086
    wpids=$(workers_of $master)
    sleep 0.3

    load_start "$f-idle" 0 idle "$url" -c "$idle" -r 5000 \
        -d $(( duration + 6 ))
    ip=$job_pid
    wait_ready "$f-idle"

    # the echo sessions open first and are measured from a second after
    # the bulk senders start
    load_start "$f-echo" 0 echo "$url" -c "$clients" -R "$echo_rate" \
        -s 64 --binary -d $(( duration + 2 )) --warmup 2
    ep=$job_pid
    sleep 1
    load_start "$f-bulk" "$bulk_nice" flood "$url" -c "$bulk" \
        -s "$bulk_size" --binary -d $(( duration + 3 )) --close-timeout 1
    bp=$job_pid
    sleep 1

    local spids
    # shellcheck disable=SC2086
    spids="$wpids $(workers_of $backend_master)"
    # shellcheck disable=SC2086
    cpu_window_start $spids
    b0=0
    t0=$EPOCHREALTIME
    if [ -n "$status_url" ]; then
        get_status "$f-status0.json"
        jparse "$f-status0.json"
        b0=$(jv totals.counters.bytes_in)
    fi

    load_wait "$ep" "$f-echo" "$c-r$r-echo"
    cpu_window_end
    add "$c.srv_cpu" "$cw_servers"
    add "$c.oth_cpu" "$cw_others"
    add "$c.cli_cpu" "$cw_client"
    add "$c.softirq_cpu" "$cw_softirq_pct"
    [ "$cw_others" = null ] || [ "$cw_others" -lt 15 ] \
        || anomaly "$c-r$r: other processes took" \
        "${cw_others}% of the server CPU during the measurement"

    if [ -n "$status_url" ]; then
        get_status "$f-status1.json"
        t1=$EPOCHREALTIME
        jparse "$f-status1.json"
        b1=$(jv totals.counters.bytes_in)
        fig=$(window_figures "$f-status1.json")
        [ -n "$fig" ] || anomaly "$c-r$r: no $window window in /status"
        read -r ev99 evmax lag99 lagmax <<< "${fig:-null null null null}"
        add "$c.ev99" "$ev99"
        add "$c.evmax" "$evmax"
        add "$c.lag99" "$lag99"
        add "$c.lagmax" "$lagmax"
        add "$c.bulk_mbs" "$(awk -v a="$b0" -v b="$b1" -v t0="$t0" \
            -v t1="$t1" 'BEGIN { if (a == "null" || b == "null") print "null"
                                 else printf "%.0f", (b - a) / 1048576 / (t1 - t0) }')"
        add "$c.epi" "$(jv windows.$window.events_per_iteration)"
    fi

    jparse "$f-echo.json"
    local e50 e99 emax
    e50=$(jv latency_us.p50)
    e99=$(jv latency_us.p99)
    emax=$(jv latency_us.max)
    add "$c.p50" "$e50"
    add "$c.p99" "$e99"
    add "$c.max" "$emax"
    [ "$(jv errors.total)" = 0 ] && [ "$(jv counters.failed)" = 0 ] \
        || anomaly "$c-r$r: echo clients: failed=$(jv counters.failed)" \
        "errors=$(jv errors.total)"

    load_wait "$bp" "$f-bulk" "$c-r$r-bulk"
    jparse "$f-bulk.json"
    add "$c.bulk_est" "$(jv counters.established)"
    add "$c.bulk_echo_mbs" "$(awk -v b="$(jv counters.bytes_received)" \
        -v s="$(jv measure_s)" 'BEGIN { if (s + 0 > 0)
            printf "%.0f", b / 1048576 / s; else print "null" }')"
    [ "$(jv counters.established)" = "$bulk" ] \
        || anomaly "$c-r$r: $(jv counters.established) of $bulk bulk" \
        "senders established"
    load_wait "$ip" "$f-idle" "$c-r$r-idle"
    jparse "$f-idle.json"
    add "$c.idle_est" "$(jv counters.established)"

    local now_pids
    # shellcheck disable=SC2086
    now_pids=$(workers_of $master)
    [ "$now_pids" = "$wpids" ] \
        || anomaly "$c-r$r: workers changed ($wpids -> $now_pids)"

    say "round $r $c: echo p50/p99/max $e50/$e99/$emax us" \
        "${ev99:+, event latency p99 $ev99 us, loop lag max $lagmax us}"
    ev99=
    stop_config
    sleep 1
}

med() {
    # med KEY: the median over the rounds of vals[KEY]
    # shellcheck disable=SC2086
    median ${vals[$1]:-null}
}

say "module $module_id; $bulk bulk senders x $bulk_size B, $idle idle," \
    "$clients echo clients at $echo_rate msg/s; $rounds round(s) of" \
    "$duration s"

for (( r = 1; r <= rounds; r++ )); do
    for c in "${clist[@]}"; do
        run_config "$c" "$r"
    done
done

ev99=$(med module.ev99)
p99m=$(med module.p99)
verdict() {
    # verdict VALUE: "ok" under 5000 us, "over" otherwise
    [ "$1" != null ] || { echo "n/a"; return; }
    awk -v v="$1" 'BEGIN { print (v < 5000 ? "ok" : "over") }'
}

{
    printf '\n%-34s' "median over $rounds round(s)"
    for c in "${clist[@]}"; do printf '%12s' "$c"; done
    printf '%10s\n' "target"
    row() {
        # row LABEL KEY [TARGET]
        local c
        printf '%-34s' "$1"
        for c in "${clist[@]}"; do printf '%12s' "$(med "$c.$2")"; done
        printf '%10s\n' "${3:-}"
    }
    row "echo p50 us" p50
    row "echo p99 us" p99 "< 5000"
    row "echo max us" max
    row "event latency p99 us ($window)" ev99 "< 5000"
    row "event latency max us ($window)" evmax
    row "loop lag p99 us ($window)" lag99
    row "loop lag max us ($window)" lagmax
    row "events per iteration" epi
    row "bulk MB/s in (status)" bulk_mbs
    row "bulk echo MB/s (ws-load)" bulk_echo_mbs
    row "bulk senders established" bulk_est
    row "idle sessions established" idle_est
    row "NGINX CPU %" srv_cpu
    row "ksoftirqd on the server CPU %" softirq_cpu
    row "others on the server CPU %" oth_cpu
    row "client CPU busy %" cli_cpu
    printf '\nmodule: event latency p99 %s (%s), echo p99 %s (%s)\n' \
        "$ev99" "$(verdict "$ev99")" "$p99m" "$(verdict "$p99m")"
    for c in "${clist[@]}"; do
        printf 'rounds %s: echo p99 %s\n' "$c" "${vals[$c.p99]:-}"
        [ "$c" != module ] \
            || printf 'rounds %s: event latency p99 %s, loop lag max %s\n' \
                   "$c" "${vals[$c.ev99]:-}" "${vals[$c.lagmax]:-}"
    done
    if [ ${#anomalies[@]} -gt 0 ]; then
        printf '\nanomalies:\n'
        printf '  %s\n' "${anomalies[@]}"
    fi
    printf '\nfiles: %s\n' "$out"
} >&2

json=$(printf '{"bench":"fairness-bench","mode":"%s","module":%s,' \
       "$mode" "$(json_str "$module_id")")
json+="\"rounds\":$rounds,\"duration_s\":$duration,\"window\":\"$window\","
json+="\"bulk\":$bulk,\"bulk_size\":$bulk_size,\"idle\":$idle,"
json+="\"clients\":$clients,\"echo_rate\":$echo_rate,\"workers\":$workers,"
json+="\"results\":{"
first=1
for c in "${clist[@]}"; do
    [ "$first" = 1 ] || json+=","
    first=0
    json+="$(json_str "$c"):{"
    kfirst=1
    for k in p50 p99 max ev99 evmax lag99 lagmax epi bulk_mbs \
             bulk_echo_mbs bulk_est idle_est srv_cpu softirq_cpu oth_cpu \
             cli_cpu; do
        v=$(med "$c.$k")
        [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || v=null
        [ "$kfirst" = 1 ] || json+=","
        kfirst=0
        json+="\"$k\":$v"
    done
    json+="}"
done
json+="},\"target_us\":5000,"
json+="\"anomalies\":[$(json_strs ${anomalies[@]+"${anomalies[@]}"})],"
json+="\"elapsed_s\":$SECONDS}"
put_result "$json"
