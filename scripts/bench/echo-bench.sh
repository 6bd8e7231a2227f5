#!/usr/bin/env bash
#
# Side-by-side WebSocket echo benchmark, loopback only:
#
#   A  NGINX + ngx_ws_gateway_module terminating WebSockets
#      (location /echo { ws_gateway_pass builtin:echo; })
#   B  stock NGINX (no module loaded) proxying WebSocket (proxy_pass,
#      proxy_http_version 1.1, Upgrade/Connection headers) to a second
#      NGINX that runs the module's echo: "stock NGINX proxy in front of
#      the same echo".  B's throughput, latency and handshake figures
#      include the backend hop; B's memory is the proxy's workers only.
#   R  NGINX + the module relaying every session over links to a backend
#      of the link protocol (upstream { server ...; ws_gateway_links N; },
#      ws_gateway_pass NAME), here build/backend/echo-backend, the C echo
#      backend: the module's relay path.  R's figures include the
#      backend; R's memory is NGINX's workers only.  --no-relay leaves R
#      out.
#
# The servers' CPU is counted for both processes of B and R (the front
# NGINX's workers and the backend: B's second NGINX, R's echo-backend),
# apart and summed, and messages per server CPU-second are shown, so
# that rates can be compared at equal CPU (target: R at least 3 times
# B's messages per CPU-second).
#
# Phases, each run for A, R, then B, round after round (A R B A R B ...):
#
#   echo64     closed loop, -c connections, 64-byte binary messages
#   echo4k     closed loop, -c connections, 4096-byte binary messages
#   fixed      open loop at a fixed rate both sustain (64 bytes)
#   churn      connect, handshake, one echo, close, reconnect
#   mem        worker RSS/PSS per idle session at N sessions
#              (scripts/mem-per-session.sh, fresh NGINX instances)
#
# Medians over the rounds and the ratios A/B and R/B are printed as a table on
# stderr, then one JSON line on stdout.  Everything is written under
# build/bench/ (the last run in build/bench/last/, one JSON line per run
# appended to build/bench/results.jsonl).
#
# With --metrics, the overhead of the module's metrics instead:
#
#   A  NGINX + the module's echo with ws_gateway_metrics on; (and
#      location /status { ws_gateway_status; }, never polled while
#      measuring)
#   B  the same with ws_gateway_metrics off;
#
# phases echo64, echo4k and fixed by default; the ratio on/off of each
# figure is the median of the per-round ratios A/B (target: throughput
# at least 0.97 of B's).  Written to build/bench/last-metrics/.
#
# usage: scripts/bench/echo-bench.sh [--metrics] [--quick | --full] [options]
#
#   --quick            1 round, 2 s phases, 20000 idle sessions (< 60 s)
#   (default)          3 rounds, 3 s phases, 20000 idle sessions (< 3 min)
#   --full             5 rounds, 5 s phases, 30000 idle sessions
#   --metrics          A = metrics on, B = metrics off (see above);
#                      rounds: 2 (--quick), 5 (default), 9 (--full)
#   --control          --metrics, but B with metrics on as well: an A/A
#                      run, whose ratios show the method's own bias
#   --disturb-pct N    flag a run when other processes took N% or more
#                      of a pinned CPU (default 15; 5 with --metrics)
#   --rounds N         rounds of A and B
#   --duration SEC     seconds per throughput/latency/churn phase
#   --connections N    sessions for the echo phases (default 200)
#   --rate N           fixed-rate phase, messages/s (default: half the
#                      slower closed-loop 64-byte rate of round 1,
#                      rounded down to a multiple of 1000)
#   --churn-slots N    concurrent slots of the churn phase (default 100)
#   --sessions N       idle sessions of the memory phase
#   --mem-workers N    worker_processes of the memory phase (default:
#                      enough for the proxy's two sockets per session)
#   --workers N        worker_processes of A, of B's proxy and of B's
#                      backend in the other phases (default 1)
#   --no-relay         leave R out (A and B only, as before)
#   --relay-workers N  worker_processes of R (default 2; memory phase:
#                      --mem-workers)
#   --links N          ws_gateway_links of R's upstream (default 2)
#   --port-base N      the 16 ports used, N to N+15 (default 2300)
#   --worker-connections N   (default 19000, in every instance)
#   --text             text messages instead of binary (A then validates
#                      UTF-8, B's proxy does not)
#   --phases LIST      comma-separated subset of
#                      echo64,echo4k,fixed,churn,mem (default: all;
#                      echo64,echo4k,fixed with --metrics)
#   --server-cpu LIST  CPUs for every NGINX process (default 0)
#   --client-cpu LIST  CPUs for ws-load (default 1)
#   --no-pin           no taskset
#   --so PATH          use this ngx_ws_gateway_module.so instead of
#                      building one with scripts/build.sh
#   -h, --help         this text
#
# Ports: 127.0.0.1:2300-2315 only (--port-base).  Nothing else on the machine is
# touched: the script stops only the processes it started.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=echo-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
mem_script=$top/scripts/mem-per-session.sh
out=$top/build/bench/last

mode=default
bench=compare
b_metrics=off
disturb_pct=
rounds=
duration=
sessions=
connections=200
rate=
churn_slots=100
mem_workers=
workers=1
worker_connections=19000
msg_type=--binary
phases=
server_cpu=0
client_cpu=1
pin=1
so=
relay=1
relay_workers=2
links=2
port_base=2300

# R's target: its messages per server CPU-second at least this many
# times B's
relay_target=3

# the options of every benchmark (--quick, --rounds, --so, ...) are
# common_opt's, in lib.sh
while [ $# -gt 0 ]; do
    case $1 in
    --metrics)      bench=metrics; shift ;;
    --control)      bench=metrics; b_metrics=on; shift ;;
    --connections)  need_arg "$@"; connections=$2; shift 2 ;;
    --rate)         need_arg "$@"; rate=$2; shift 2 ;;
    --churn-slots)  need_arg "$@"; churn_slots=$2; shift 2 ;;
    --sessions)     need_arg "$@"; sessions=$2; shift 2 ;;
    --mem-workers)  need_arg "$@"; mem_workers=$2; shift 2 ;;
    --worker-connections)
                    need_arg "$@"; worker_connections=$2; shift 2 ;;
    --text)         msg_type=--text; shift ;;
    --binary)       msg_type=--binary; shift ;;
    --phases)       need_arg "$@"; phases=$2; shift 2 ;;
    --no-relay)     relay=0; shift ;;
    --relay-workers) need_arg "$@"; relay_workers=$2; shift 2 ;;
    --links)        need_arg "$@"; links=$2; shift 2 ;;
    --port-base)    need_arg "$@"; port_base=$2; shift 2 ;;
    *)              common_opt "$@"
                    [ "$opt_words" -gt 0 ] \
                        || die "unknown option \"$1\" (see --help)"
                    shift "$opt_words" ;;
    esac
done

if [ "$bench" = metrics ]; then
    # more rounds: the effect looked for is a few per cent
    case $mode in
    quick)   : "${rounds:=2}" ;;
    full)    : "${rounds:=9}" ;;
    *)       : "${rounds:=5}" ;;
    esac
    : "${phases:=echo64,echo4k,fixed}" "${disturb_pct:=5}"
    out=$top/build/bench/last-metrics
fi
: "${phases:=echo64,echo4k,fixed,churn,mem}" "${disturb_pct:=15}"

case $mode in
quick)   : "${rounds:=1}" "${duration:=2}" "${sessions:=20000}"
         mem_hold=2 ;;
full)    : "${rounds:=5}" "${duration:=5}" "${sessions:=30000}"
         mem_hold=5 ;;
*)       : "${rounds:=3}" "${duration:=3}" "${sessions:=20000}"
         mem_hold=2 ;;
esac

# the throughput target of --metrics: on/off at least this
target=0.97

need_uints rounds duration connections churn_slots sessions workers \
           worker_connections disturb_pct relay_workers links port_base
[ "$links" -le 64 ] || die "invalid --links (1-64)"
[ "$port_base" -le 65520 ] || die "invalid --port-base"
[ "$bench" = compare ] || relay=0

# ports: 127.0.0.1:port_base to port_base+15
port_a=$port_base
port_b=$(( port_base + 1 ))
ports_be=($(( port_base + 2 )) $(( port_base + 3 )) $(( port_base + 4 )) \
          $(( port_base + 5 )))
port_ma=$(( port_base + 6 ))
port_mb=$(( port_base + 7 ))
ports_mbe=($(( port_base + 8 )) $(( port_base + 9 )) $(( port_base + 10 )) \
           $(( port_base + 11 )))
port_r=$(( port_base + 12 ))
port_rbe=$(( port_base + 13 ))
port_mr=$(( port_base + 14 ))
port_mrbe=$(( port_base + 15 ))
[ -z "$rate" ] || { is_uint "$rate" && [ "$rate" -ge 1 ]; } \
    || die "invalid --rate"

# the proxy holds two sockets per session: keep each worker well under
# the 20,000 open files a process may have
if [ -z "$mem_workers" ]; then
    mem_workers=$(( (2 * sessions + 14999) / 15000 ))
    [ "$mem_workers" -ge 2 ] || mem_workers=2
fi
is_uint "$mem_workers" && [ "$mem_workers" -ge 1 ] \
    || die "invalid --mem-workers"

declare -A want=()
IFS=, read -r -a plist <<< "$phases"
for p in "${plist[@]}"; do
    case $p in
    echo64|echo4k|fixed|churn|mem) want[$p]=1 ;;
    *) die "unknown phase \"$p\"" ;;
    esac
done

setup_host
build_module
build_loadgen

# the ports must be free
ports_free "$port_a" "$port_b" "${ports_be[@]}" "$port_ma" "$port_mb" \
           "${ports_mbe[@]}" "$port_r" "$port_rbe" "$port_mr" "$port_mrbe"

rm -rf "$out"
mkdir -p "$out/runs"
copy_module

trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# results: vals[KEY] is a space-separated list, one value per round

declare -A vals=()
anomalies=()

# disturbed[PHASE.ROUND]: A's or B's run of that phase in that round
# shared its CPUs with other processes (--disturb-pct)
declare -A disturbed=()

disturbed_run() {
    # disturbed_run TAG (PHASE-A|B|R-rROUND)
    if [[ $1 =~ ^([a-z0-9]+)-[ABR]-r([0-9]+)$ ]]; then
        disturbed[${BASH_REMATCH[1]}.${BASH_REMATCH[2]}]=1
    fi
}

run_load() {
    # run_load TAG FRONT_PIDS BACK_PIDS ws-load-args...: runs ws-load
    # pinned, records server and client CPU; FRONT_PIDS (the NGINX
    # workers ws-load talks to) and BACK_PIDS (their backend's
    # processes, "" for none), space-separated, are the servers, counted
    # apart ($fe_ticks, $be_ticks) and together ($srv_ticks); the result
    # JSON goes to $out/runs/TAG.json
    local tag=$1 fpids=$2 bpids=$3 f=$out/runs/$1 t0 t1 w0 w1 pid rc
    local f0 f1 b0 b1
    shift 3

    # shellcheck disable=SC2086
    f0=$(cpu_ticks $fpids)
    # shellcheck disable=SC2086
    b0=$(cpu_ticks $bpids)
    t0=$(( f0 + b0 ))
    local s0=0 c0=0 s1=0 c1=0
    if [ "$watch_cpus" = 1 ]; then
        s0=$(cpu_busy "$server_cpu")
        c0=$(cpu_busy "$client_cpu")
    fi
    w0=$EPOCHREALTIME

    local tcmd=()
    [ ${#timer[@]} -gt 0 ] && tcmd=("${timer[@]}" -o "$f.time")
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} \
        ${tcmd[@]+"${tcmd[@]}"} \
        "$ws_load" "$@" -q >"$f.json" 2>"$f.stderr" &
    pid=$!
    jobs_running=("$pid")
    rc=0
    wait "$pid" || rc=$?
    jobs_running=()

    w1=$EPOCHREALTIME
    # shellcheck disable=SC2086
    f1=$(cpu_ticks $fpids)
    # shellcheck disable=SC2086
    b1=$(cpu_ticks $bpids)
    t1=$(( f1 + b1 ))
    if [ "$watch_cpus" = 1 ]; then
        s1=$(cpu_busy "$server_cpu")
        c1=$(cpu_busy "$client_cpu")
    fi

    if [ "$rc" != 0 ] || [ ! -s "$f.json" ]; then
        anomalies+=("$tag: ws-load exited with $rc: $(tail -n 2 \
                     "$f.stderr" | tr '\n' ' ')")
    fi

    srv_ticks=$(( t1 - t0 ))
    fe_ticks=$(( f1 - f0 ))
    be_ticks=$(( b1 - b0 ))
    srv_cpu=$(awk -v a="$t0" -v b="$t1" -v w0="$w0" -v w1="$w1" -v hz="$hz" \
              'BEGIN { printf "%.0f", (b - a) / hz / (w1 - w0) * 100 }')
    read_cli_cpu "$f.time"

    # others' share of the server CPU: its busy time minus the servers'
    other_cpu=null
    other_cli=null
    if [ "$watch_cpus" = 1 ] && [ "${tag#warmup}" = "$tag" ]; then
        other_cpu=$(awk -v s="$((s1 - s0))" -v t="$((t1 - t0))" \
                        -v w0="$w0" -v w1="$w1" -v hz="$hz" 'BEGIN {
                        o = (s - t) / hz / (w1 - w0) * 100
                        printf "%.0f", o < 0 ? 0 : o }')
        if [ "$other_cpu" -ge "$disturb_pct" ]; then
            anomaly "$tag: other processes took ${other_cpu}% of" \
                    "server CPU $server_cpu (shared machine?)"
            disturbed_run "$tag"
        fi
        if [ "$cli_cpu" != null ]; then
            other_cli=$(awk -v c="$((c1 - c0))" -v l="$cli_cpu" \
                            -v w0="$w0" -v w1="$w1" -v hz="$hz" 'BEGIN {
                            o = c / hz / (w1 - w0) * 100 - l
                            printf "%.0f", o < 0 ? 0 : o }')
            if [ "$other_cli" -ge "$disturb_pct" ]; then
                anomaly "$tag: other processes took ${other_cli}% of" \
                        "client CPU $client_cpu (shared machine?)"
                disturbed_run "$tag"
            fi
        fi
    fi

    # errors and failures are reported, never hidden
    local failed errors
    jparse "$f.json"
    failed=$(jv counters.failed)
    errors=$(jv errors.total)
    if [ "$failed" != 0 ] || [ "$errors" != 0 ]; then
        anomalies+=("$tag: failed=$failed errors=$errors $(sed -n \
            's/.*"errors":{\([^}]*\)}.*"http_status":{\([^}]*\)}.*/\1 status:{\2}/p' \
            "$f.json")")
    fi
}

# phases

url_a=ws://127.0.0.1:$port_a/echo
url_b=ws://127.0.0.1:$port_b/echo
url_r=ws://127.0.0.1:$port_r/echo

url_of() {
    case $1 in
    A) echo "$url_a" ;;
    B) echo "$url_b" ;;
    R) echo "$url_r" ;;
    esac
}

phase_echo() {
    # phase_echo PHASE SIZE SERVER URL ROUND [RATE]; SERVER is A, B or
    # R, whose processes are ${front[SERVER]} and ${back[SERVER]}
    local ph=$1 size=$2 s=$3 url=$4 r=$5 rt=${6:-0} f

    run_load "$ph-$s-r$r" "${front[$s]}" "${back[$s]}" echo "$url" \
        -c "$connections" -P 1 \
        -d "$duration" -s "$size" "$msg_type" -R "$rt"
    f=$out/runs/$ph-$s-r$r.json
    jparse "$f"
    add "$ph.msgs.$s" "${J[rates.messages_per_s]:-null}"
    add "$ph.p50.$s" "${J[latency_us.p50]:-null}"
    add "$ph.p99.$s" "${J[latency_us.p99]:-null}"
    add "$ph.p999.$s" "${J[latency_us.p99.9]:-null}"
    add "$ph.max.$s" "${J[latency_us.max]:-null}"
    add "$ph.srvcpu.$s" "$srv_cpu"
    per_unit "$ph.srvns.$s" "$(jv counters.messages_received)"
    split_units "$ph" "$s" "$(jv counters.messages_received)"
    add "$ph.clicpu.$s" "$cli_cpu"
    add "$ph.othcpu.$s" "$other_cpu"
    add "$ph.othcli.$s" "$other_cli"
    say "round $r $ph $s: $(jv rates.messages_per_s) msg/s," \
        "p50/p99/p99.9 $(jv latency_us.p50)/$(jv latency_us.p99)/$(jv \
        latency_us.p99.9) us," \
        "cpu: server $srv_cpu% ($per_unit_ns ns/msg: front $fe_ns," \
        "backend $be_ns; $per_cpu_s msg/CPU-s), ws-load $cli_cpu%," \
        "others on the server/client CPU $other_cpu%/$other_cli%"
}

per_unit() {
    # per_unit KEY COUNT: the servers' CPU time of the last run_load
    # (utime + stime of the workers) per message (or cycle), in ns;
    # sets $per_unit_ns
    per_unit_ns=null
    if is_uint "$2" && [ "$2" -gt 0 ]; then
        per_unit_ns=$(awk -v t="$srv_ticks" -v hz="$hz" -v n="$2" \
                      'BEGIN { printf "%.0f", t / hz * 1e9 / n }')
    fi
    add "$1" "$per_unit_ns"
}

split_units() {
    # split_units PHASE SERVER COUNT: of the last run_load, the front's
    # and the backend's CPU per message (or cycle) in ns (the backend's
    # "null" when there is none) and the messages (or cycles) per server
    # CPU-second, front and backend together; sets $fe_ns, $be_ns and
    # $per_cpu_s
    local n=$3
    fe_ns=null
    be_ns=null
    per_cpu_s=null
    if is_uint "$n" && [ "$n" -gt 0 ]; then
        fe_ns=$(awk -v t="$fe_ticks" -v hz="$hz" -v n="$n" \
                'BEGIN { printf "%.0f", t / hz * 1e9 / n }')
        if [ -n "${back[$2]}" ]; then
            be_ns=$(awk -v t="$be_ticks" -v hz="$hz" -v n="$n" \
                    'BEGIN { printf "%.0f", t / hz * 1e9 / n }')
        fi
        if [ "$srv_ticks" -gt 0 ]; then
            per_cpu_s=$(awk -v t="$srv_ticks" -v hz="$hz" -v n="$n" \
                        'BEGIN { printf "%.0f", n / (t / hz) }')
        fi
    fi
    add "$1.fens.$2" "$fe_ns"
    add "$1.bens.$2" "$be_ns"
    add "$1.mpc.$2" "$per_cpu_s"
}

phase_churn() {
    local s=$1 url=$2 r=$3 f

    run_load "churn-$s-r$r" "${front[$s]}" "${back[$s]}" churn "$url" \
        -c "$churn_slots" -P 1 \
        -d "$duration" -s 64 "$msg_type"
    f=$out/runs/churn-$s-r$r.json
    jparse "$f"
    add "churn.hs.$s" "${J[rates.handshakes_per_s]:-null}"
    add "churn.hsp50.$s" "${J[handshake_us.p50]:-null}"
    add "churn.hsp99.$s" "${J[handshake_us.p99]:-null}"
    add "churn.srvcpu.$s" "$srv_cpu"
    per_unit "churn.srvns.$s" "$(jv counters.cycles)"
    split_units churn "$s" "$(jv counters.cycles)"
    add "churn.clicpu.$s" "$cli_cpu"
    add "churn.othcpu.$s" "$other_cpu"
    add "churn.othcli.$s" "$other_cli"
    say "round $r churn $s: ${J[rates.handshakes_per_s]:-null}" \
        "handshakes/s, handshake p50/p99 $(jv handshake_us.p50)/$(jv \
        handshake_us.p99) us, cpu: server $srv_cpu% ($per_unit_ns" \
        "ns/cycle)," \
        "ws-load $cli_cpu%, others $other_cpu%/$other_cli%"
}

phase_mem() {
    # fresh instances each time: memory freed by an earlier run would
    # otherwise be reused and hide the per-session cost
    local s=$1 r=$2 pa pb pbe f prefix=$out/mem-$1-r$2 rc=0 url m conf

    rm -rf "$prefix"
    if [ "$s" = R ]; then
        start_backend "$prefix/backend" "$port_mrbe"
        pbe=$backend_pid
        write_relay_conf "$prefix/relay" "$mem_workers" "$links" \
            "$port_mr" "$port_mrbe"
        start_nginx "$prefix/relay" "$port_mr"
        pa=$nginx_pid
        links_up "$port_mrbe" $(( mem_workers * links ))
        m=$pa
        url=ws://127.0.0.1:$port_mr/echo
        conf=$prefix/relay/nginx.conf
    elif [ "$s" = A ]; then
        write_echo_conf "$prefix/a" "$mem_workers" "$a_metrics" \
            "$a_status" "$port_ma"
        start_nginx "$prefix/a" "$port_ma"
        pa=$nginx_pid
        m=$pa
        url=ws://127.0.0.1:$port_ma/echo
        conf=$prefix/a/nginx.conf
    elif [ "$bench" = metrics ]; then
        write_echo_conf "$prefix/b" "$mem_workers" "$b_metrics" 0 \
            "$port_mb"
        start_nginx "$prefix/b" "$port_mb"
        pb=$nginx_pid
        m=$pb
        url=ws://127.0.0.1:$port_mb/echo
        conf=$prefix/b/nginx.conf
    else
        write_echo_conf "$prefix/backend" "$mem_workers" - 0 \
            "${ports_mbe[@]}"
        write_proxy_conf "$prefix/proxy" "$mem_workers" "$port_mb" \
            "${ports_mbe[@]}"
        start_nginx "$prefix/backend" "${ports_mbe[0]}"
        pbe=$nginx_pid
        start_nginx "$prefix/proxy" "$port_mb"
        pb=$nginx_pid
        m=$pb
        url=ws://127.0.0.1:$port_mb/echo
        conf=$prefix/proxy/nginx.conf
    fi
    sleep 0.3

    f=$out/runs/mem-$s-r$r
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} "$mem_script" \
        -p "$m" -u "$url" -n "$sessions" -c "$conf" -r 10000 \
        --hold "$mem_hold" --settle 1 -- "$msg_type" \
        >"$f.json" 2>"$f.stderr" &
    local pid=$!
    jobs_running=("$pid")
    wait "$pid" || rc=$?
    jobs_running=()

    [ "$rc" = 0 ] && [ -s "$f.json" ] \
        || anomaly "mem-$s-r$r: mem-per-session exited with $rc:" \
                   "$(tail -n 3 "$f.stderr" | tr '\n' ' ')"

    local est
    jparse "$f.json"
    est=${J[sessions_established]:-null}
    if [ "$est" != "$sessions" ]; then
        anomalies+=("mem-$s-r$r: $est of $sessions sessions established")
    fi
    add "mem.rss.$s" "${J[rss_per_session_bytes]:-null}"
    add "mem.pss.$s" "${J[pss_per_session_bytes]:-null}"
    add "mem.est.$s" "$est"
    say "round $r mem $s: $est sessions, rss/pss per session" \
        "$(jv rss_per_session_bytes)/$(jv pss_per_session_bytes) bytes"

    if [ "$s" = B ]; then
        stop_nginx "$pb"
        [ "$bench" = metrics ] || stop_nginx "$pbe"
    elif [ "$s" = R ]; then
        stop_nginx "$pa"
        stop_nginx "$pbe"
        backend_log "$prefix/backend"
    else
        stop_nginx "$pa"
    fi
    collect_log_lines "$prefix"
}

declare -A loglines=()

backend_log() {
    # backend_log DIR: what echo-backend wrote on stderr is an anomaly
    [ -s "$1/stderr.log" ] || return 0
    anomaly "$1: echo-backend said: $(head -n 3 "$1/stderr.log" \
             | tr '\n' ' ')"
}

collect_log_lines() {
    # counts [emerg] [alert] [crit] [error] [warn] lines in the error
    # logs under a prefix, and keeps the first few alerts
    local prefix=$1 lvl n
    for lvl in emerg alert crit error warn; do
        n=$(cat "$prefix"/*/logs/error.log "$prefix"/logs/error.log \
            2>/dev/null | grep -c "\[$lvl\]" || true)
        loglines[$lvl]=$(( ${loglines[$lvl]:-0} + n ))
    done
    cat "$prefix"/*/logs/error.log "$prefix"/logs/error.log 2>/dev/null \
        | grep -E '\[(emerg|alert|crit)\]' | head -n 3 \
        | while read -r l; do echo "$prefix: $l"; done \
        >> "$out/log-excerpts.txt" || true
}

# what A runs (and B with --metrics): ws_gateway_metrics left at its
# default (on) in the comparison with stock NGINX; with --metrics, on in
# A and off in B, and A also gets the status handler if this build has
# it (it is never polled while measuring, so it costs nothing there;
# one GET after the last round checks the counters)

a_metrics=-
a_status=0
status_note=
if [ "$bench" = metrics ]; then
    a_metrics=on
    write_echo_conf "$out/probe" 1 off 0 "$port_a"
    conf_ok "$out/probe" || {
        cat "$out/probe/logs/nginx-t.log" >&2
        die "this module does not take \"ws_gateway_metrics off;\""
    }
    write_echo_conf "$out/probe" 1 on 1 "$port_a"
    if conf_ok "$out/probe"; then
        a_status=1
        status_note="location = /status { ws_gateway_status; } in A only,"
        status_note+=" not polled during the run"
    else
        status_note="no ws_gateway_status in this build (A has no /status)"
    fi
    rm -rf "$out/probe"
fi

# run

started=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$bench" = metrics ] \
    && say "metrics overhead: A = ws_gateway_metrics on, B = $b_metrics"
say "mode $mode: $rounds round(s) of ${duration}s phases, $connections" \
    "connections, $sessions idle sessions; nginx $($nginx_bin -v 2>&1 \
    | sed 's/.*\///'), worker_processes $workers" \
    "(memory phase $mem_workers), pinned: $([ "$pin" = 1 ] \
    && echo "servers CPU $server_cpu, ws-load CPU $client_cpu" || echo no)"
say "module $module_id; load average before: $load_before"

need_tp=0
for p in echo64 echo4k fixed churn; do
    [ -n "${want[$p]:-}" ] && need_tp=1
done

# the servers, by side: front[S] the workers of the NGINX that ws-load
# talks to, back[S] the processes of its backend ("" for A: none)
declare -A front=() back=()
sides=(A B)
[ "$relay" = 1 ] && sides=(A R B)

mbe=
mr=
mrbe=
if [ "$need_tp" = 1 ]; then
    write_echo_conf "$out/a" "$workers" "$a_metrics" "$a_status" "$port_a"
    start_nginx "$out/a" "$port_a"
    ma=$nginx_pid
    if [ "$bench" = metrics ]; then
        write_echo_conf "$out/b" "$workers" "$b_metrics" 0 "$port_b"
        start_nginx "$out/b" "$port_b"
        mb=$nginx_pid
        back[B]=
    else
        write_echo_conf "$out/b-backend" "$workers" - 0 "${ports_be[@]}"
        write_proxy_conf "$out/b-proxy" "$workers" "$port_b" \
            "${ports_be[@]}"
        start_nginx "$out/b-backend" "${ports_be[0]}"
        mbe=$nginx_pid
        start_nginx "$out/b-proxy" "$port_b"
        mb=$nginx_pid
        back[B]=$(workers_of "$mbe")
    fi
    front[A]=$(workers_of "$ma")
    back[A]=
    front[B]=$(workers_of "$mb")
    if [ "$relay" = 1 ]; then
        start_backend "$out/r-backend" "$port_rbe"
        mrbe=$backend_pid
        write_relay_conf "$out/r" "$relay_workers" "$links" "$port_r" \
            "$port_rbe"
        start_nginx "$out/r" "$port_r"
        mr=$nginx_pid
        links_up "$port_rbe" $(( relay_workers * links ))
        front[R]=$(workers_of "$mr")
        back[R]=$mrbe
    fi

    # warm up (not measured)
    for sd in "${sides[@]}"; do
        run_load "warmup-$sd" "${front[$sd]}" "${back[$sd]}" echo \
            "$(url_of "$sd")" -c "$connections" -d 1 -s 64 "$msg_type"
    done
fi

for (( r = 1; r <= rounds; r++ )); do
    if [ -n "${want[echo64]:-}" ]; then
        for sd in "${sides[@]}"; do
            phase_echo echo64 64 "$sd" "$(url_of "$sd")" "$r"
        done
    fi
    if [ -n "${want[echo4k]:-}" ]; then
        for sd in "${sides[@]}"; do
            phase_echo echo4k 4096 "$sd" "$(url_of "$sd")" "$r"
        done
    fi
    if [ -n "${want[fixed]:-}" ]; then
        if [ -z "$rate" ]; then
            if [ -n "${want[echo64]:-}" ]; then
                # shellcheck disable=SC2086
                rate=$(awk -v a="$(median ${vals[echo64.msgs.A]:-null})" \
                           -v b="$(median ${vals[echo64.msgs.B]:-null})" \
                           -v c="$(median ${vals[echo64.msgs.R]:-null})" \
                      'BEGIN { m = (a < b ? a : b)
                               if (c != "null" && c + 0 < m) m = c + 0
                               m = int(m / 2 / 1000) * 1000
                               print (m < 1000 ? 1000 : m) }')
            else
                rate=10000
            fi
            say "fixed rate: $rate messages/s"
        fi
        for sd in "${sides[@]}"; do
            phase_echo fixed 64 "$sd" "$(url_of "$sd")" "$r" "$rate"
        done
    fi
    if [ -n "${want[churn]:-}" ]; then
        for sd in "${sides[@]}"; do
            phase_churn "$sd" "$(url_of "$sd")" "$r"
        done
    fi
    if [ -n "${want[mem]:-}" ]; then
        for sd in "${sides[@]}"; do
            phase_mem "$sd" "$r"
        done
    fi
done

# --metrics: A's status handler, read once now that the measurements
# are over: it must answer, and count what ws-load sent and received

status_check=null
status_first() {
    # the first "KEY":N of the status answer (the totals come first)
    grep -o "\"$1\":[0-9]*" "$out/status-after.json" 2>/dev/null \
        | head -n 1 | cut -d: -f2
}
if [ "$need_tp" = 1 ] && [ "$a_status" = 1 ]; then
    code=000
    if command -v curl >/dev/null; then
        code=$(curl -s -m 5 -o "$out/status-after.json" -w '%{http_code}' \
               "http://127.0.0.1:$port_a/status?format=json") || code=000
    fi
    sent=0
    recv=0
    for f in "$out"/runs/warmup-A.json \
             "$out"/runs/{echo64,echo4k,fixed,churn}-A-r*.json; do
        [ -s "$f" ] || continue
        jparse "$f"
        sent=$(( sent + ${J[counters.messages_sent]:-0} ))
        recv=$(( recv + ${J[counters.messages_received]:-0} ))
    done
    m_in=$(status_first messages_in)
    m_out=$(status_first messages_out)
    active=$(status_first active)
    status_check="GET /status after the last round: $code"
    if [ "$code" = 200 ] && is_uint "${m_in:-x}" && is_uint "${m_out:-x}"
    then
        status_check+=", messages_in $m_in, messages_out $m_out,"
        status_check+=" active $active (ws-load: $sent sent, $recv echoed)"
        if [ "$m_in" -lt "$recv" ] || [ "$m_in" -gt "$sent" ] \
           || [ "$m_out" -lt "$recv" ] || [ "$m_out" -gt "$m_in" ] \
           || [ "${active:-0}" != 0 ]; then
            anomaly "status: counters do not match ws-load's: $status_check"
        fi
    else
        anomaly "status: $status_check"
    fi
    say "$status_check"
fi

if [ "$need_tp" = 1 ]; then
    stop_nginx "$mb"
    [ -z "$mbe" ] || stop_nginx "$mbe"
    [ -z "$mr" ] || stop_nginx "$mr"
    [ -z "$mrbe" ] || stop_nginx "$mrbe"
    stop_nginx "$ma"
    collect_log_lines "$out"
    backend_log "$out/r-backend"
fi

elapsed=$(( SECONDS - started ))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# medians and A/B ratios, computed by one awk

declare -A med=() rat=() rat_r=()

while read -r kind k v; do
    case $kind in
    m) med[$k]=$v ;;
    r) rat[$k]=$v ;;
    q) rat_r[$k]=$v ;;
    esac
done < <(for k in "${!vals[@]}"; do echo "$k ${vals[$k]}"; done | awk '
    function fmt(x) { return x == int(x) ? sprintf("%d", x) \
                                         : sprintf("%.1f", x) }
    {
        n = 0
        for (i = 2; i <= NF; i++) {
            if ($i == "null") continue
            x = $i + 0
            for (j = n; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
            v[j + 1] = x
            n++
        }
        if (n == 0) m[$1] = "null"
        else if (n % 2) m[$1] = v[(n + 1) / 2]
        else m[$1] = (v[n / 2] + v[n / 2 + 1]) / 2
    }
    END {
        for (k in m) {
            print "m", k, (m[k] == "null" ? "null" : fmt(m[k]))
            if (k ~ /\.A$/) {
                base = substr(k, 1, length(k) - 2)
                b = m[base ".B"]
                if (m[k] == "null" || b == "" || b == "null" || b == 0)
                    print "r", base, "null"
                else
                    printf "r %s %.2f\n", base, m[k] / b
            }
            if (k ~ /\.R$/) {
                base = substr(k, 1, length(k) - 2)
                b = m[base ".B"]
                if (m[k] == "null" || b == "" || b == "null" || b == 0)
                    print "q", base, "null"
                else
                    printf "q %s %.2f\n", base, m[k] / b
            }
        }
    }')

get_med() {
    echo "${med[$1]:-null}"
}

# per-round ratios A/B (A and B of a round ran back to back), their
# median, and their median over the rounds that no other process
# disturbed (--disturb-pct); with --metrics these are the ratios shown

declare -A rr=() rr_clean=() rr_list=()
while read -r k m c l; do
    rr[$k]=$m
    rr_clean[$k]=$c
    rr_list[$k]=$l
done < <(for k in "${!vals[@]}"; do
        [[ $k == *.A ]] || continue
        base=${k%.A}
        d=
        for (( r = 1; r <= rounds; r++ )); do
            d+="${disturbed[${base%%.*}.$r]:-0} "
        done
        echo "$base|${vals[$k]}|${vals[$base.B]:-}|$d"
    done | awk -F'|' '
    function med(a, n,    i, j, x, v) {
        if (n == 0) return "null"
        for (i = 1; i <= n; i++) {
            x = a[i]
            for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]
            v[j + 1] = x
        }
        return sprintf("%.3f", n % 2 ? v[(n + 1) / 2] \
                                     : (v[n / 2] + v[n / 2 + 1]) / 2)
    }
    {
        na = split($2, A, " "); split($3, B, " "); split($4, D, " ")
        n = 0; nc = 0; list = ""
        for (i = 1; i <= na; i++) {
            list = list (i > 1 ? "," : "")
            if (A[i] == "null" || B[i] == "" || B[i] == "null" \
                || B[i] == 0) {
                list = list "null"
                continue
            }
            x = A[i] / B[i]
            all[++n] = x
            if (D[i] != 1) clean[++nc] = x
            list = list sprintf("%.3f", x)
        }
        print $1, med(all, n), med(clean, nc), list
        for (i in all) delete all[i]
        for (i in clean) delete clean[i]
    }')

get_ratio() {
    # the ratio shown: median of the per-round ratios with --metrics,
    # ratio of the medians otherwise
    if [ "$bench" = metrics ]; then
        echo "${rr[$1]:-null}"
    else
        echo "${rat[$1]:-null}"
    fi
}

# a phase where A's ws-load used (nearly) all of its CPU measured the
# load generator as much as A: its A/B ratio is a lower bound.  With
# --metrics, where A and B run at about the same rate, either's: the
# ratio is then bounded by the generator, and the servers' CPU per
# message is the figure to read

declare -A bound=() bound_sides=()
for ph in echo64 echo4k churn; do
    bsides=A
    [ "$bench" = metrics ] && bsides="A B"
    [ "$relay" = 1 ] && bsides="A R"
    for sd in $bsides; do
        c=$(get_med "$ph.clicpu.$sd")
        if [ "$c" != null ] && [ "${c%.*}" -ge 85 ]; then
            bound[$ph]=1
            bound_sides[$ph]="${bound_sides[$ph]:-}${bound_sides[$ph]:+ }$sd"
        fi
    done
done

rows=()    # "label|unit|key|better"
[ -n "${want[echo64]:-}" ] && rows+=(
    "echo 64 B closed loop|msg/s|echo64.msgs|higher"
    "  latency p50|us|echo64.p50|lower"
    "  latency p99|us|echo64.p99|lower"
    "  latency p99.9|us|echo64.p999|lower"
    "  server CPU|%|echo64.srvcpu|info"
    "  server CPU per message|ns|echo64.srvns|lower"
    "    front NGINX per message|ns|echo64.fens|lower"
    "    backend per message|ns|echo64.bens|lower"
    "  messages per server CPU-second|msg|echo64.mpc|higher"
    "  ws-load CPU|%|echo64.clicpu|info"
    "  others on server CPU|%|echo64.othcpu|info"
    "  others on client CPU|%|echo64.othcli|info")
[ -n "${want[echo4k]:-}" ] && rows+=(
    "echo 4 KB closed loop|msg/s|echo4k.msgs|higher"
    "  latency p50|us|echo4k.p50|lower"
    "  latency p99|us|echo4k.p99|lower"
    "  latency p99.9|us|echo4k.p999|lower"
    "  server CPU|%|echo4k.srvcpu|info"
    "  server CPU per message|ns|echo4k.srvns|lower"
    "    front NGINX per message|ns|echo4k.fens|lower"
    "    backend per message|ns|echo4k.bens|lower"
    "  messages per server CPU-second|msg|echo4k.mpc|higher"
    "  ws-load CPU|%|echo4k.clicpu|info"
    "  others on server CPU|%|echo4k.othcpu|info"
    "  others on client CPU|%|echo4k.othcli|info")
[ -n "${want[fixed]:-}" ] && rows+=(
    "echo 64 B at ${rate:-?} msg/s|msg/s|fixed.msgs|info"
    "  latency p50|us|fixed.p50|lower"
    "  latency p99|us|fixed.p99|lower"
    "  latency p99.9|us|fixed.p999|lower"
    "  latency max|us|fixed.max|lower"
    "  server CPU|%|fixed.srvcpu|lower"
    "  server CPU per message|ns|fixed.srvns|lower"
    "    front NGINX per message|ns|fixed.fens|lower"
    "    backend per message|ns|fixed.bens|lower"
    "  messages per server CPU-second|msg|fixed.mpc|higher"
    "  ws-load CPU|%|fixed.clicpu|info"
    "  others on server CPU|%|fixed.othcpu|info"
    "  others on client CPU|%|fixed.othcli|info")
[ -n "${want[churn]:-}" ] && rows+=(
    "churn ($churn_slots slots)|hs/s|churn.hs|higher"
    "  handshake p50|us|churn.hsp50|lower"
    "  handshake p99|us|churn.hsp99|lower"
    "  server CPU|%|churn.srvcpu|info"
    "  server CPU per cycle|ns|churn.srvns|lower"
    "    front NGINX per cycle|ns|churn.fens|lower"
    "    backend per cycle|ns|churn.bens|lower"
    "  cycles per server CPU-second|n|churn.mpc|higher"
    "  ws-load CPU|%|churn.clicpu|info"
    "  others on server CPU|%|churn.othcpu|info"
    "  others on client CPU|%|churn.othcli|info")
[ -n "${want[mem]:-}" ] && rows+=(
    "idle sessions established|n|mem.est|info"
    "memory per idle session RSS|bytes|mem.rss|lower"
    "memory per idle session PSS|bytes|mem.pss|lower")

# --metrics: A and B have no backend, their front is all of the server
if [ "$bench" = metrics ]; then
    keep=()
    for row in "${rows[@]}"; do
        [[ $row == *.fens\|* || $row == *.bens\|* ]] || keep+=("$row")
    done
    rows=("${keep[@]}")
fi

# --metrics: the target, checked on the median per-round ratios.
# Throughput on/off at least $target; the servers' CPU per message
# on/off at most 1/$target (the same overhead, read where the load
# generator does not bound it)

cpu_limit=$(awk -v t="$target" 'BEGIN { printf "%.3f", 1 / t }')
checks=()    # "key|ratio|limit|met(true|false|null)"
if [ "$bench" = metrics ]; then
    for key in echo64.msgs echo4k.msgs echo64.srvns echo4k.srvns \
               fixed.srvns churn.hs churn.srvns; do
        [ -n "${want[${key%%.*}]:-}" ] || continue
        v=${rr[$key]:-null}
        case $key in
        *.srvns) lim="<= $cpu_limit"
                 ok=$(awk -v v="$v" -v l="$cpu_limit" 'BEGIN {
                      print (v == "null" ? "null" : v <= l + 0 ? "true" \
                                                               : "false") }')
                 ;;
        *)       lim=">= $target"
                 ok=$(awk -v v="$v" -v l="$target" 'BEGIN {
                      print (v == "null" ? "null" : v >= l + 0 ? "true" \
                                                               : "false") }')
                 ;;
        esac
        checks+=("$key|$v|$lim|$ok")
    done
fi

# R's target, on the medians: its messages per server CPU-second (the
# front NGINX and the backend together) at least $relay_target times B's

relay_checks=()    # "key|ratio|met(true|false|null)"
if [ "$relay" = 1 ]; then
    for key in echo64.mpc echo4k.mpc; do
        [ -n "${want[${key%%.*}]:-}" ] || continue
        v=${rat_r[$key]:-null}
        ok=$(awk -v v="$v" -v l="$relay_target" 'BEGIN {
             print (v == "null" ? "null" : v >= l + 0 ? "true" : "false") }')
        relay_checks+=("$key|$v|$ok")
    done
fi

disturbed_list=
for (( r = 1; r <= rounds; r++ )); do
    for ph in echo64 echo4k fixed churn; do
        [ -z "${disturbed[$ph.$r]:-}" ] || disturbed_list+=" $ph-r$r"
    done
done

{
    echo
    if [ "$bench" = metrics ]; then
        echo "ngx_ws_gateway_module metrics overhead ($mode, $rounds" \
             "round(s), medians; ${elapsed}s)"
        echo "  A = NGINX + the module's echo, ws_gateway_metrics on;"
        echo "  B = the same, ws_gateway_metrics $b_metrics;$([ \
             "$b_metrics" = off ] || echo " (--control: an A/A run)")"
        echo "  status handler: $status_note"
        echo "  on/off = median of the per-round ratios A/B (A and B of a" \
             "round run back to back, A B A B ...);"
        echo "  undisturbed = the same over the rounds where no other" \
             "process took ${disturb_pct}% of a pinned CPU"
        echo "  worker_processes $workers (memory phase: $mem_workers," \
             "reuseport) in A and B; worker_connections" \
             "$worker_connections; $([ "$pin" = 1 ] \
             && echo "NGINX on CPU $server_cpu, ws-load on CPU $client_cpu" \
             || echo "not pinned")"
    else
        echo "ngx_ws_gateway_module echo benchmark ($mode, $rounds round(s)," \
             "medians; ${elapsed}s)"
        echo "  A = NGINX + ngx_ws_gateway_module terminating WebSockets" \
             "(ws_gateway_pass builtin:echo)"
        echo "  B = stock NGINX proxy_pass (HTTP/1.1 Upgrade) in front of" \
             "the same echo (a second NGINX with the module);"
        echo "      B's rates and latencies include the backend hop; B's" \
             "memory is the proxy's workers only"
        [ "$relay" = 1 ] && {
        echo "  R = NGINX + the module relaying over links (ws_gateway_pass" \
             "NAME; worker_processes $relay_workers, ws_gateway_links" \
             "$links) to build/backend/echo-backend (C, link protocol);"
        echo "      R's figures include the backend; R's memory is NGINX's" \
             "workers only"
        echo "  server CPU = front NGINX workers + backend (B: the second" \
             "NGINX's workers, R: echo-backend); msg per server CPU-second" \
             "compares at equal CPU"
        }
        echo "  worker_processes $workers (memory phase: $mem_workers," \
             "reuseport) in A, B's proxy and B's backend; worker_connections" \
             "$worker_connections; $([ "$pin" = 1 ] \
             && echo "all NGINX on CPU $server_cpu, ws-load on CPU" \
                     "$client_cpu" \
             || echo "not pinned")"
    fi
    echo "  $connections connections, ${duration}s per phase," \
         "${msg_type#--} messages$([ -z "${want[mem]:-}" ] \
         || echo "; $sessions idle sessions");" \
         "load average $load_before -> $load_after"
    echo "  server CPU = utime+stime of the workers (/proc/PID/stat) over" \
         "the ws-load run; per message: divided by the echoes received"
    echo "  module .so md5 $module_id"
    echo
    if [ "$bench" = metrics ]; then
        printf '%-32s %-6s %12s %12s %8s %8s  %s\n' metric unit "A on" \
               "B $b_metrics" "on/$b_metrics" undist. better
        printf '%.0s-' {1..91}
    elif [ "$relay" = 1 ]; then
        printf '%-32s %-6s %10s %10s %10s %7s %7s  %s\n' metric unit A R B \
               A/B R/B better
        printf '%.0s-' {1..96}
    else
        printf '%-32s %-6s %12s %12s %8s  %s\n' metric unit A B A/B better
        printf '%.0s-' {1..82}
    fi
    echo
    for row in "${rows[@]}"; do
        IFS='|' read -r label unit key better <<< "$row"
        note=
        if [ -n "${bound[${key%%.*}]:-}" ] && [ "$better" = higher ]; then
            if [ "$bench" = metrics ]; then
                note=" (ws-load at its CPU limit: bounded by the generator)"
            elif [ "$relay" = 1 ]; then
                note=" (${bound_sides[${key%%.*}]}: ws-load at its CPU"
                note+=" limit, ratio is a lower bound)"
            else
                note=" (A: ws-load at its CPU limit, ratio is a lower bound)"
            fi
        fi
        if [ "$bench" = metrics ]; then
            printf '%-32s %-6s %12s %12s %8s %8s  %s%s\n' "$label" "$unit" \
                   "$(get_med "$key.A")" "$(get_med "$key.B")" \
                   "${rr[$key]:-null}" "${rr_clean[$key]:-null}" \
                   "$better" "$note"
        elif [ "$relay" = 1 ]; then
            printf '%-32s %-6s %10s %10s %10s %7s %7s  %s%s\n' "$label" \
                   "$unit" "$(get_med "$key.A")" "$(get_med "$key.R")" \
                   "$(get_med "$key.B")" "${rat[$key]:-null}" \
                   "${rat_r[$key]:-null}" "$better" "$note"
        else
            printf '%-32s %-6s %12s %12s %8s  %s%s\n' "$label" "$unit" \
                   "$(get_med "$key.A")" "$(get_med "$key.B")" \
                   "${rat[$key]:-null}" "$better" "$note"
        fi
    done
    echo
    if [ "$bench" = metrics ]; then
        echo "per-round on/off:"
        for key in echo64.msgs echo64.srvns echo4k.msgs echo4k.srvns \
                   fixed.p99 fixed.srvns churn.hs churn.srvns; do
            [ -n "${want[${key%%.*}]:-}" ] || continue
            printf '  %-14s %s\n' "$key" "${rr_list[$key]:-null}"
        done
        echo "target (median on/off): throughput >= $target, server CPU" \
             "per message (churn: per cycle) <= $cpu_limit:"
        for c in ${checks[@]+"${checks[@]}"}; do
            IFS='|' read -r key v lim ok <<< "$c"
            case $ok in
            true)  verdict=met ;;
            false) verdict="NOT met" ;;
            *)     verdict="no data" ;;
            esac
            note=
            if [ -n "${bound[${key%%.*}]:-}" ] && [[ $key != *.srvns ]]; then
                note=" (ws-load at its CPU limit: the ratio is bounded by"
                note+=" the generator; read ${key%%.*}.srvns)"
            fi
            printf '  %-14s %8s  %-9s %s%s\n' "$key" "$v" "$lim" \
                   "$verdict" "$note"
        done
        echo "disturbed rounds (others >= ${disturb_pct}% of a pinned" \
             "CPU):${disturbed_list:- none}"
        [ "$status_check" = null ] || echo "$status_check"
    fi
    if [ "$relay" = 1 ]; then
        echo "relay target: R/B of messages per server CPU-second (front" \
             "NGINX + backend) >= $relay_target:"
        for c in ${relay_checks[@]+"${relay_checks[@]}"}; do
            IFS='|' read -r key v ok <<< "$c"
            case $ok in
            true)  verdict=met ;;
            false) verdict="NOT met" ;;
            *)     verdict="no data" ;;
            esac
            printf '  %-14s %8s  %s (R/B msg/s %s)\n' "$key" "$v" \
                   "$verdict" "${rat_r[${key%%.*}.msgs]:-null}"
        done
    fi
    echo "per-round values: $out/runs/*.json"
    if [ ${#anomalies[@]} -gt 0 ]; then
        echo "anomalies:"
        printf '  %s\n' "${anomalies[@]}"
    else
        echo "anomalies: none (no failed session, no ws-load error)"
    fi
    echo "error log lines: emerg=${loglines[emerg]:-0}" \
         "alert=${loglines[alert]:-0} crit=${loglines[crit]:-0}" \
         "error=${loglines[error]:-0} warn=${loglines[warn]:-0}"
    if [ -s "$out/log-excerpts.txt" ]; then
        head -n 10 "$out/log-excerpts.txt"
    fi
} >&2

# the JSON line

json_num() {
    [ -n "$1" ] && echo "$1" || echo null
}

if [ "$bench" = metrics ]; then
    j='{"bench":"metrics-overhead"'
else
    j='{"bench":"echo-bench"'
fi
j+=',"mode":"'$mode'","rounds":'$rounds
j+=',"duration_s":'$duration',"connections":'$connections
j+=',"message_type":"'${msg_type#--}'","fixed_rate":'$(json_num "$rate")
j+=',"churn_slots":'$churn_slots',"sessions":'$sessions
j+=',"worker_processes":'$workers',"mem_worker_processes":'$mem_workers
j+=',"worker_connections":'$worker_connections
j+=',"pinned":'$([ "$pin" = 1 ] && echo true || echo false)
j+=',"module":"'$module_id'"'
j+=',"nginx":"'$($nginx_bin -v 2>&1 | sed 's/.*\///')'"'
if [ "$bench" = metrics ]; then
    j+=',"a":"nginx + module echo, ws_gateway_metrics on"'
    j+=',"b":"nginx + module echo, ws_gateway_metrics '$b_metrics'"'
    [ "$b_metrics" = off ] || j+=',"control":true'
    j+=',"ratio":"median of per-round A/B"'
    j+=',"status_handler":'$(json_str "$status_note")
    if [ "$status_check" = null ]; then
        j+=',"status_check":null'
    else
        j+=',"status_check":'$(json_str "$status_check")
    fi
    # shellcheck disable=SC2086
    j+=',"disturbed_rounds":['$(json_strs $disturbed_list)']'
    j+=',"disturb_pct":'$disturb_pct
    j+=',"target":{"throughput_min":'$target',"cpu_per_msg_max":'$cpu_limit
    j+='},"checks":{'
    first=1
    for c in ${checks[@]+"${checks[@]}"}; do
        IFS='|' read -r key v _ ok <<< "$c"
        [ "$first" = 1 ] || j+=','
        first=0
        j+='"'$key'":'$ok
    done
    j+='}'
else
    j+=',"a":"nginx + ngx_ws_gateway_module (ws_gateway_pass builtin:echo)"'
    j+=',"b":"stock nginx proxy_pass -> nginx + module echo'
    j+=' (includes the backend hop; memory: proxy workers only)"'
    if [ "$relay" = 1 ]; then
        j+=',"r":"nginx + module relaying over links (ws_gateway_pass'
        j+=' NAME) -> echo-backend (includes the backend; memory: nginx'
        j+=' workers only)"'
        j+=',"relay_worker_processes":'$relay_workers',"links":'$links
        j+=',"relay_target":{"mpc_ratio_min":'$relay_target'},"relay_checks":{'
        first=1
        for c in ${relay_checks[@]+"${relay_checks[@]}"}; do
            IFS='|' read -r key v ok <<< "$c"
            [ "$first" = 1 ] || j+=','
            first=0
            j+='"'$key'":{"ratio":'$v',"met":'$ok'}'
        done
        j+='}'
    fi
fi
j+=',"results":{'
first=1
keys=()
for row in "${rows[@]}"; do
    IFS='|' read -r _ _ key _ <<< "$row"
    keys+=("$key")
done
for key in "${keys[@]}"; do
    [ "$first" = 1 ] || j+=','
    first=0
    j+='"'$key'":{"A":'$(get_med "$key.A")',"B":'$(get_med "$key.B")
    j+=',"ratio":'$(get_ratio "$key")
    [ "$bench" = metrics ] && j+=',"ratio_undisturbed":'${rr_clean[$key]:-null}
    if [ "$relay" = 1 ]; then
        rv=${vals[$key.R]:-}
        j+=',"R":'$(get_med "$key.R")',"ratio_R":'${rat_r[$key]:-null}
        j+=',"R_rounds":['${rv// /,}']'
    fi
    a=${vals[$key.A]:-}
    b=${vals[$key.B]:-}
    j+=',"A_rounds":['${a// /,}'],"B_rounds":['${b// /,}']'
    j+=',"round_ratios":['${rr_list[$key]:-}']}'
done
j+='},"client_bound":['$(json_strs "${!bound[@]}")
j+='],"anomalies":['$(json_strs ${anomalies[@]+"${anomalies[@]}"})']'
j+=',"log_lines":{"emerg":'${loglines[emerg]:-0}',"alert":'
j+=${loglines[alert]:-0}',"crit":'${loglines[crit]:-0}',"error":'
j+=${loglines[error]:-0}',"warn":'${loglines[warn]:-0}'}'
j+=',"load_before":"'$load_before'","load_after":"'$load_after'"'
j+=',"elapsed_s":'$elapsed'}'

put_result "$j"
