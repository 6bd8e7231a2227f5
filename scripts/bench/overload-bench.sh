#!/usr/bin/env bash
#
# Overload benchmark, loopback only: the echo round trip of well-behaved
# clients while slow readers attack, side by side for
#
#   off      the module, ws_gateway_worker_outbound_limit off
#   budget   the module, ws_gateway_worker_outbound_limit BUDGET (64m)
#   before   (--before-so PATH) another build of the module, loaded
#            without ws_gateway_worker_outbound_limit (a build from
#            before the directive existed)
#   stock    stock NGINX (no module loaded) proxying WebSocket to a
#            second NGINX that runs the module's echo (as in
#            echo-bench.sh); its figures include the backend hop
#
# Each configuration is a fresh NGINX (1 worker, pinned to CPU 0; the
# load generator on CPU 1) and runs, in turn:
#
#   baseline  --clients echo sessions, open loop at --echo-rate msg/s in
#             total, --echo-size byte binary messages: p50/p99/max
#             (latency from each message's intended send time, after a
#             1 s warm-up)
#   attack    the echo sessions connect; a second later --attackers
#             sessions (ws-load flood --no-read --reset-at-end) start to
#             send --attack-size byte messages to the echo and never
#             read; after --fill seconds the echo sessions are measured
#             for --duration seconds while the attack goes on
#
# and worker RSS (peak of samples and VmHWM), the machine's TCP memory
# (/proc/net/sockstat "mem" pages; it includes the load generator's
# sockets), and for the module the /status figures (queued_bytes,
# buffer_bytes and paused sessions at their peak, pauses and drops over
# the run) are sampled every 0.2 s.  The table and the ratios go to
# stderr, one JSON line to stdout (and build/bench/results.jsonl).
#
# usage: scripts/bench/overload-bench.sh [--quick | --full] [options]
#
#   --quick              2 s baseline, 5 s fill, 4 s attack measurement
#                        per configuration (< 60 s for the default three)
#   (default)            5 s, 10 s, 10 s
#   --full               10 s, 20 s, 20 s
#   --configs LIST       comma-separated subset of off,budget,before,stock
#                        (default: off,budget,stock, and before with
#                        --before-so)
#   --budget SIZE        the worker budget of "budget" (default 64m)
#   --session-limit SIZE ws_gateway_outbound_limit in every module
#                        instance (default: left out, its default 1m)
#   --attackers N        slow readers (default 500)
#   --attack-size BYTES  their message size (default 1048576)
#   --clients N          well-behaved echo sessions (default 50)
#   --echo-rate N        their messages/s in total (default 2000)
#   --echo-size BYTES    their message size (default 64)
#   --rounds N           rounds of every configuration (default 1);
#                        the table shows the medians
#   --fill SEC           attack time before the measurement
#   --duration SEC       the measurement, baseline and under attack
#   --so PATH            the module to load (default: scripts/build.sh)
#   --no-worker-limit    the --so build has no worker budget directive:
#                        run it as "module" (directive left out) instead
#                        of off and budget
#   --before-so PATH     add the "before" configuration with this build
#   --workers N          worker_processes (default 1)
#   --server-cpu LIST    CPUs for every NGINX process (default 0)
#   --client-cpu LIST    CPUs for ws-load (default 1)
#   --no-pin             no taskset
#   --port-base N        ports N to N+9 on 127.0.0.1 (default 5000)
#   --attack-nice N      the attackers' ws-load runs under nice -n N
#                        (default 10) so that on the shared client CPU
#                        the echo clients are not delayed by it
#   --wait-quiet SEC     before each configuration, wait up to SEC s
#                        (default 30, --quick 0) until the machine
#                        is less than 15% busy (it may be shared)
#   -h, --help           this text
#
# Bounds: at most --attackers + --clients sessions at a time (one
# process may hold 20,000 files; the proxy holds two per session), every
# ws-load run ends by itself (-d), the attackers end with a TCP reset so
# the kernel keeps none of their data.  Only the processes the script
# started are stopped.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=overload-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
out=$top/build/bench/last-overload

mode=default
configs=
budget=64m
session_limit=
attackers=500
attack_size=1048576
clients=50
echo_rate=2000
echo_size=64
fill=
duration=
workers=1
worker_connections=19000
server_cpu=0
client_cpu=1
pin=1
so=
no_worker_limit=0
before_so=
quiet_max=
port_base=5000
attack_nice=10

while [ $# -gt 0 ]; do
    case $1 in
    --configs)        need_arg "$@"; configs=$2; shift 2 ;;
    --budget)         need_arg "$@"; budget=$2; shift 2 ;;
    --session-limit)  need_arg "$@"; session_limit=$2; shift 2 ;;
    --attackers)      need_arg "$@"; attackers=$2; shift 2 ;;
    --attack-size)    need_arg "$@"; attack_size=$2; shift 2 ;;
    --clients)        need_arg "$@"; clients=$2; shift 2 ;;
    --echo-rate)      need_arg "$@"; echo_rate=$2; shift 2 ;;
    --echo-size)      need_arg "$@"; echo_size=$2; shift 2 ;;
    --fill)           need_arg "$@"; fill=$2; shift 2 ;;
    --no-worker-limit) no_worker_limit=1; shift ;;
    --before-so)      need_arg "$@"; before_so=$2; shift 2 ;;
    --wait-quiet)   need_arg "$@"; quiet_max=$2; shift 2 ;;
    --port-base)      need_arg "$@"; port_base=$2; shift 2 ;;
    --attack-nice)    need_arg "$@"; attack_nice=$2; shift 2 ;;
    *)                common_opt "$@"
                      [ "$opt_words" -gt 0 ] \
                          || die "unknown option \"$1\" (see --help)"
                      shift "$opt_words" ;;
    esac
done

case $mode in
quick)   : "${base_s:=2}" "${fill:=5}" "${duration:=4}" "${quiet_max:=0}" ;;
full)    : "${base_s:=10}" "${fill:=20}" "${duration:=20}" ;;
*)       : "${base_s:=5}" "${fill:=10}" "${duration:=10}" ;;
esac
: "${quiet_max:=30}"

: "${rounds:=1}"
need_uints attackers attack_size clients echo_rate fill duration workers \
           port_base rounds
[[ $attack_nice =~ ^-?[0-9]+$ ]] || die "invalid --attack-nice"
is_uint "$echo_size" || die "invalid --echo-size"
[[ $budget =~ ^[0-9]+[kKmMgG]?$ ]] || die "invalid --budget"
[ -z "$session_limit" ] || [[ $session_limit =~ ^[0-9]+[kKmM]?$ ]] \
    || die "invalid --session-limit"
[ -z "$before_so" ] || [ -f "$before_so" ] || die "no module \"$before_so\""

# one process may hold 20,000 files; the proxy holds two per session
[ $(( 2 * (attackers + clients) + 100 )) -le 19000 ] \
    || die "--attackers + --clients must stay under 9,400"

if [ -z "$configs" ]; then
    if [ "$no_worker_limit" = 1 ]; then
        configs=module,stock
    else
        configs=off,budget,stock
    fi
    [ -z "$before_so" ] || configs=before,$configs
fi

IFS=, read -r -a clist <<< "$configs"
for c in "${clist[@]}"; do
    case $c in
    off|budget)
        [ "$no_worker_limit" = 0 ] \
            || die "\"$c\" needs the worker budget (--no-worker-limit)" ;;
    module) ;;
    before) [ -n "$before_so" ] || die "\"before\" needs --before-so" ;;
    stock) ;;
    *) die "unknown configuration \"$c\"" ;;
    esac
done

setup_host
build_module
build_loadgen

port_of() {
    # the port of a configuration
    case $1 in
    off)     echo $(( port_base )) ;;
    budget)  echo $(( port_base + 1 )) ;;
    before)  echo $(( port_base + 2 )) ;;
    module)  echo $(( port_base + 3 )) ;;
    stock)   echo $(( port_base + 4 )) ;;
    backend) echo $(( port_base + 5 )) ;;
    esac
}

ports_free $(( port_base )) $(( port_base + 1 )) $(( port_base + 2 )) \
           $(( port_base + 3 )) $(( port_base + 4 )) $(( port_base + 5 ))

rm -rf "$out"
mkdir -p "$out/runs"
copy_module
if [ -n "$before_so" ]; then
    cp "$before_so" "$out/before_module.so"
    before_id="$(md5sum < "$out/before_module.so" | cut -c1-12) ($before_so)"
fi

trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# configuration

module_extra() {
    # module_extra CONFIG: the http directives of a module instance
    [ -z "$session_limit" ] \
        || echo "    ws_gateway_outbound_limit $session_limit;"
    case $1 in
    off)    echo "    ws_gateway_worker_outbound_limit off;" ;;
    budget) echo "    ws_gateway_worker_outbound_limit $budget;" ;;
    esac
}

start_config() {
    # start_config CONFIG: a fresh instance; sets $master (the one whose
    # workers are measured), $url, $status_url (empty for stock) and
    # $backend_master (stock only)
    local c=$1 prefix=$out/$1 port so_saved=$so

    port=$(port_of "$c")
    rm -rf "$prefix"
    backend_master=
    status_url=

    if [ "$c" = stock ]; then
        echo_http_extra=$(module_extra stock)
        write_echo_conf "$prefix/backend" "$workers" - 1 \
            "$(port_of backend)"
        write_proxy_conf "$prefix/proxy" "$workers" "$port" \
            "$(port_of backend)"
        start_nginx "$prefix/backend" "$(port_of backend)"
        backend_master=$nginx_pid
        start_nginx "$prefix/proxy" "$port"
        master=$nginx_pid
    else
        [ "$c" = before ] && so=$out/before_module.so
        echo_http_extra=$(module_extra "$c")
        write_echo_conf "$prefix" "$workers" - 1 "$port"
        so=$so_saved
        start_nginx "$prefix" "$port"
        master=$nginx_pid
        status_url=http://127.0.0.1:$port/status
    fi
    url=ws://127.0.0.1:$port/echo
}

stop_config() {
    stop_nginx "$master"
    [ -z "$backend_master" ] || stop_nginx "$backend_master"
}

# measuring

tcp_mem_pages() {
    awk '$1 == "TCP:" { for (i = 2; i < NF; i++)
                            if ($i == "mem") print $(i + 1) }' \
        /proc/net/sockstat
}

rss_kb() {
    # rss_kb FIELD PID...: the sum of /proc/PID/status FIELD (VmRSS,
    # VmHWM) in kB
    local f=$1 p t=0 v
    shift
    for p in "$@"; do
        v=$(awk -v f="$f:" '$1 == f { print $2 }' "/proc/$p/status" \
            2>/dev/null) || v=0
        t=$(( t + ${v:-0} ))
    done
    echo "$t"
}

status_fields() {
    # status_fields URL: "queued buffer paused pauses_limit
    # pauses_worker drops_slow send_timeout answer_ms" of the totals,
    # "- ..." when the status page does not answer within 2 s
    local f=$out/status.tmp t0 ms
    t0=$EPOCHREALTIME
    if [ -z "$1" ] \
       || ! curl -s --max-time 2 -o "$f" "$1?format=json" 2>/dev/null; then
        echo "- - - - - - - -"
        return
    fi
    ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" \
         'BEGIN { printf "%d", (b - a) * 1000 }')
    jparse "$f"
    echo "$(jv totals.queued_bytes) $(jv totals.buffer_bytes)" \
         "$(jv totals.sessions.paused) $(jv totals.pauses.limit)" \
         "$(jv totals.pauses.worker) $(jv totals.drops.slow)" \
         "$(jv totals.ends.send_timeout) $ms"
}

sampler() {
    # sampler FILE PID...: one line every 0.2 s until killed: time,
    # worker RSS (kB), TCP memory (pages), status fields
    local f=$1
    shift
    while :; do
        echo "$EPOCHREALTIME $(rss_kb VmRSS "$@") $(tcp_mem_pages)" \
             "$(status_fields "$status_url")" >> "$f"
        sleep 0.2
    done
}

col_max() {
    # col_max FILE COLUMN: the largest number in that column, or null
    awk -v c="$2" '$c ~ /^[0-9]+$/ && (m == "" || $c + 0 > m) { m = $c + 0 }
                   END { print (m == "" ? "null" : m) }' "$1" 2>/dev/null
}

col_last() {
    # col_last FILE COLUMN: the last number in that column, or null
    awk -v c="$2" '$c ~ /^[0-9]+$/ { m = $c }
                   END { print (m == "" ? "null" : m) }' "$1" 2>/dev/null
}

declare -A R=()

echo_start() {
    # echo_start CONFIG PHASE SECONDS WARMUP: the well-behaved clients,
    # measured after WARMUP seconds; sets $echo_pid
    local f=$out/runs/$1-$2

    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} "$ws_load" echo "$url" \
        -c "$clients" -R "$echo_rate" -s "$echo_size" --binary \
        -d "$(( $3 + $4 ))" --warmup "$4" -q >"$f.json" 2>"$f.stderr" &
    echo_pid=$!
    jobs_running+=("$echo_pid")
}

echo_wait() {
    # echo_wait CONFIG PHASE: the results of echo_start's run
    local c=$1 ph=$2 f=$out/runs/$1-$2 rc=0

    wait "$echo_pid" || rc=$?
    job_done "$echo_pid"
    [ "$rc" = 0 ] && [ -s "$f.json" ] \
        || anomalies+=("$c-$ph: ws-load exited with $rc: $(tail -n 2 \
                        "$f.stderr" | tr '\n' ' ')")
    jparse "$f.json"
    R[$c.$ph.p50]=$(jv latency_us.p50)
    R[$c.$ph.p99]=$(jv latency_us.p99)
    R[$c.$ph.max]=$(jv latency_us.max)
    R[$c.$ph.count]=$(jv latency_us.count)
    R[$c.$ph.errors]=$(jv errors.total)
    R[$c.$ph.failed]=$(jv counters.failed)
    [ "${R[$c.$ph.errors]}" = 0 ] && [ "${R[$c.$ph.failed]}" = 0 ] \
        || anomaly "$c-$ph: echo clients: failed=${R[$c.$ph.failed]}" \
        "errors=${R[$c.$ph.errors]}"
}

anomalies=()

run_config() {
    local c=$1 wpids apid arc=0 spid f=$out/runs/$1 tcp0 hwm

    wait_quiet "$quiet_max" 15
    [ -z "$quiet_note" ] || anomaly "$c: $quiet_note"
    start_config "$c"
    # shellcheck disable=SC2086
    wpids=$(workers_of $master)
    sleep 0.3
    tcp0=$(tcp_mem_pages)
    R[$c.tcp_base_mb]=$(( tcp0 * 4 / 1024 ))
    # shellcheck disable=SC2086
    R[$c.rss_base_mb]=$(( $(rss_kb VmRSS $wpids) / 1024 ))

    echo_start "$c" baseline "$base_s" 1
    echo_wait "$c" baseline
    say "$c baseline: echo p50/p99/max ${R[$c.baseline.p50]}/" \
        "${R[$c.baseline.p99]}/${R[$c.baseline.max]} us"

    # the attack: the echo sessions are open a second before it starts;
    # they are measured after the fill, while it goes on
    echo_start "$c" attack "$duration" $(( 1 + fill ))
    sleep 1
    local spids
    # shellcheck disable=SC2086
    spids="$wpids $(workers_of $backend_master)"
    # shellcheck disable=SC2086
    sampler "$f.samples" $wpids &
    spid=$!
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} \
        nice -n "$attack_nice" "$ws_load" flood "$url" \
        -c "$attackers" -s "$attack_size" --binary --no-read \
        --reset-at-end -d $(( fill + duration + 1 )) --close-timeout 1 -q \
        >"$f-flood.json" 2>"$f-flood.stderr" &
    apid=$!
    jobs_running+=("$apid")

    sleep "$fill"
    # shellcheck disable=SC2086
    cpu_window_start $spids
    echo_wait "$c" attack
    cpu_window_end
    R[$c.srv_cpu]=$cw_servers
    R[$c.oth_cpu]=$cw_others
    R[$c.cli_cpu]=$cw_client
    R[$c.softirq_cpu]=$cw_softirq_pct
    [ "$cw_others" = null ] || [ "$cw_others" -lt 15 ] \
        || anomaly "$c: other processes took ${cw_others}%" \
        "of the server CPU during the measurement"

    wait "$apid" || arc=$?
    job_done "$apid"
    [ "$arc" = 0 ] || anomaly "$c-attack: flood exited with $arc"
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true

    # shellcheck disable=SC2086
    hwm=$(rss_kb VmHWM $wpids)
    R[$c.rss_hwm_mb]=$(( hwm / 1024 ))
    R[$c.rss_peak_mb]=$(col_max "$f.samples" 2)
    [ "${R[$c.rss_peak_mb]}" = null ] \
        || R[$c.rss_peak_mb]=$(( R[$c.rss_peak_mb] / 1024 ))
    R[$c.tcp_peak_mb]=$(col_max "$f.samples" 3)
    [ "${R[$c.tcp_peak_mb]}" = null ] \
        || R[$c.tcp_peak_mb]=$(( R[$c.tcp_peak_mb] * 4 / 1024 ))
    R[$c.queued_peak_mb]=$(col_max "$f.samples" 4)
    [ "${R[$c.queued_peak_mb]}" = null ] \
        || R[$c.queued_peak_mb]=$(( R[$c.queued_peak_mb] / 1048576 ))
    R[$c.buffer_peak_mb]=$(col_max "$f.samples" 5)
    [ "${R[$c.buffer_peak_mb]}" = null ] \
        || R[$c.buffer_peak_mb]=$(( R[$c.buffer_peak_mb] / 1048576 ))
    R[$c.paused_peak]=$(col_max "$f.samples" 6)
    R[$c.pauses_limit]=$(col_last "$f.samples" 7)
    R[$c.pauses_worker]=$(col_last "$f.samples" 8)
    R[$c.drops_slow]=$(col_last "$f.samples" 9)
    R[$c.send_timeout]=$(col_last "$f.samples" 10)
    R[$c.status_ms_max]=$(col_max "$f.samples" 11)
    R[$c.status_misses]=$(awk '$4 == "-" { n++ } END { print n + 0 }' \
                          "$f.samples" 2>/dev/null)
    R[$c.samples]=$(wc -l < "$f.samples")

    jparse "$f-flood.json"
    R[$c.attack_est]=$(jv counters.established)
    R[$c.attack_sent_mb]=$(jv counters.bytes_sent)
    [ "${R[$c.attack_sent_mb]}" = null ] \
        || R[$c.attack_sent_mb]=$(( R[$c.attack_sent_mb] / 1048576 ))
    R[$c.attack_dropped]=$(jv counters.dropped)
    [ "${R[$c.attack_est]}" = "$attackers" ] \
        || anomaly "$c-attack: ${R[$c.attack_est]} of $attackers" \
        "attackers established"

    # the memory a few seconds after the attackers are gone
    sleep 2
    # shellcheck disable=SC2086
    R[$c.rss_after_mb]=$(( $(rss_kb VmRSS $wpids) / 1024 ))
    R[$c.tcp_after_mb]=$(( $(tcp_mem_pages) * 4 / 1024 ))

    say "$c attack: echo p50/p99/max ${R[$c.attack.p50]}/" \
        "${R[$c.attack.p99]}/${R[$c.attack.max]} us, worker RSS peak" \
        "${R[$c.rss_peak_mb]} MB (after ${R[$c.rss_after_mb]} MB)," \
        "TCP memory peak ${R[$c.tcp_peak_mb]} MB," \
        "attackers sent ${R[$c.attack_sent_mb]} MB"

    # the worker must not have been replaced (crash)
    local now_pids
    # shellcheck disable=SC2086
    now_pids=$(workers_of $master)
    [ "$now_pids" = "$wpids" ] \
        || anomaly "$c: workers changed ($wpids -> $now_pids)"

    stop_config
    local lvl n
    for lvl in emerg alert crit; do
        n=$(cat "$out/$c"/logs/error.log "$out/$c"/*/logs/error.log \
            2>/dev/null | grep -c "\[$lvl\]" || true)
        [ "$n" = 0 ] || anomaly "$c: $n [$lvl] lines in the error log"
    done
    sleep 1
}

say "module $module_id${before_so:+, before: $before_id}"
say "configurations: ${clist[*]}; $attackers attackers x $attack_size B" \
    "(no read), $clients echo clients at $echo_rate msg/s"

# the figures of a run, kept per round (medians in the table)
keys=(baseline.p50 baseline.p99 baseline.max attack.p50 attack.p99
      attack.max rss_base_mb rss_peak_mb rss_hwm_mb rss_after_mb
      tcp_base_mb tcp_peak_mb tcp_after_mb queued_peak_mb buffer_peak_mb
      paused_peak pauses_limit pauses_worker drops_slow send_timeout
      samples status_ms_max status_misses srv_cpu softirq_cpu oth_cpu cli_cpu
      attack_est attack_sent_mb attack_dropped)
declare -A vals=()

for (( r = 1; r <= rounds; r++ )); do
    for c in "${clist[@]}"; do
        say "round $r of $rounds: $c"
        run_config "$c"
        for k in "${keys[@]}"; do
            add "$c.$k" "${R[$c.$k]:-null}"
        done
    done
    if [ "$rounds" -gt 1 ]; then
        mkdir -p "$out/r$r"
        mv "$out/runs" "$out/r$r/runs"
        mkdir -p "$out/runs"
    fi
done

for c in "${clist[@]}"; do
    for k in "${keys[@]}"; do
        # shellcheck disable=SC2086
        R[$c.$k]=$(median ${vals[$c.$k]})
    done
done

# the table

ratio() {
    # ratio A B: A / B with two decimals, or null
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "null" || b == "null" || b + 0 == 0) print "null"
        else printf "%.2f\n", a / b }'
}

{
    printf '\n%-22s' "median of $rounds"
    for c in "${clist[@]}"; do printf '%12s' "$c"; done
    printf '\n'
    row() {
        # row LABEL KEY
        local c
        printf '%-22s' "$1"
        for c in "${clist[@]}"; do printf '%12s' "${R[$c.$2]:-null}"; done
        printf '\n'
    }
    row "baseline p50 us" baseline.p50
    row "baseline p99 us" baseline.p99
    row "baseline max us" baseline.max
    row "attack p50 us" attack.p50
    row "attack p99 us" attack.p99
    row "attack max us" attack.max
    for c in "${clist[@]}"; do
        R[$c.p99_ratio]=$(ratio "${R[$c.attack.p99]}" "${R[$c.baseline.p99]}")
    done
    row "p99 attack/baseline" p99_ratio
    row "worker RSS base MB" rss_base_mb
    row "worker RSS peak MB" rss_peak_mb
    row "worker VmHWM MB" rss_hwm_mb
    row "worker RSS after MB" rss_after_mb
    row "TCP mem base MB" tcp_base_mb
    row "TCP mem peak MB" tcp_peak_mb
    row "TCP mem after MB" tcp_after_mb
    row "queued_bytes peak MB" queued_peak_mb
    row "buffer_bytes peak MB" buffer_peak_mb
    row "paused sessions peak" paused_peak
    row "pauses (limit)" pauses_limit
    row "pauses (worker)" pauses_worker
    row "drops.slow" drops_slow
    row "samples" samples
    row "/status slowest ms" status_ms_max
    row "/status no answer" status_misses
    row "attackers sent MB" attack_sent_mb
    row "NGINX CPU % (attack)" srv_cpu
    row "ksoftirqd on it %" softirq_cpu
    row "others on server CPU %" oth_cpu
    row "client CPU busy %" cli_cpu
    printf '\n'
    for a in "${clist[@]}"; do
        for b in "${clist[@]}"; do
            [ "$a" != "$b" ] || continue
            case $a/$b in
            off/budget|before/budget|stock/budget|before/off|module/stock)
                printf 'attack p99 %s/%s: %s   worker RSS peak %s/%s: %s\n' \
                    "$a" "$b" \
                    "$(ratio "${R[$a.attack.p99]}" "${R[$b.attack.p99]}")" \
                    "$a" "$b" \
                    "$(ratio "${R[$a.rss_peak_mb]}" "${R[$b.rss_peak_mb]}")"
                ;;
            esac
        done
    done
    if [ "$rounds" -gt 1 ]; then
        for c in "${clist[@]}"; do
            printf 'rounds %s: attack p99 %s, baseline p99 %s\n' "$c" \
                "${vals[$c.attack.p99]}" "${vals[$c.baseline.p99]}"
        done
    fi
    if [ ${#anomalies[@]} -gt 0 ]; then
        printf '\nanomalies:\n'
        printf '  %s\n' "${anomalies[@]}"
    fi
    printf '\nfiles: %s\n' "$out"
} >&2

# the JSON line

json=$(printf '{"bench":"overload-bench","mode":"%s","module":%s,' \
       "$mode" "$(json_str "$module_id")")
[ -z "$before_so" ] || json+="\"before_module\":$(json_str "$before_id"),"
json+="\"attackers\":$attackers,\"attack_size\":$attack_size,"
json+="\"clients\":$clients,\"echo_rate\":$echo_rate,"
json+="\"echo_size\":$echo_size,\"budget\":$(json_str "$budget"),"
json+="\"session_limit\":$(json_str "${session_limit:-default}"),"
json+="\"workers\":$workers,\"fill_s\":$fill,\"duration_s\":$duration,"
json+="\"rounds\":$rounds,"
json+="\"results\":{"
first=1
for c in "${clist[@]}"; do
    [ "$first" = 1 ] || json+=","
    first=0
    json+="$(json_str "$c"):{"
    kfirst=1
    for k in baseline.p50 baseline.p99 baseline.max attack.p50 attack.p99 \
             attack.max p99_ratio rss_base_mb rss_peak_mb rss_hwm_mb \
             rss_after_mb tcp_base_mb tcp_peak_mb tcp_after_mb \
             queued_peak_mb buffer_peak_mb paused_peak pauses_limit \
             pauses_worker drops_slow send_timeout samples status_ms_max \
             status_misses srv_cpu softirq_cpu oth_cpu cli_cpu attack_est \
             attack_sent_mb attack_dropped; do
        v=${R[$c.$k]:-null}
        [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || v=null
        [ "$kfirst" = 1 ] || json+=","
        kfirst=0
        json+="\"${k/./_}\":$v"
    done
    json+=",\"rounds_attack_p99\":[${vals[$c.attack.p99]// /,}]}"
done
json+="},\"anomalies\":[$(json_strs ${anomalies[@]+"${anomalies[@]}"})],"
json+="\"elapsed_s\":$SECONDS}"
put_result "$json"
