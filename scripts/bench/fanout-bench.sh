#!/usr/bin/env bash
#
# Fan-out benchmark, loopback only (issue 11): how long one PUBLISH
# takes to reach every subscriber, and what it does to unrelated
# sessions meanwhile.  Two cases:
#
#   small   --small subscribers (10,000) in ONE worker (worker_processes 1)
#   large   --large subscribers (100,000) over --large-workers workers (8)
#
# Each case is a fresh NGINX with the module:
#
#   upstream fan { server 127.0.0.1:PORT+1; ws_gateway_links 2; }
#   location /sub  { ws_gateway_pass fan; ws_gateway_subscribe bench; }
#   location /echo { ws_gateway_pass builtin:echo; }    (--echo-via)
#   location = /status { ws_gateway_status; }
#
# and scripts/bench/fanout_backend.py as the backend.  The subscribers
# are `ws-load subscribe` processes (at most 15,000 sessions each);
# --clients echo sessions (`ws-load echo`, open loop, --echo-rate msg/s
# in total, 64-byte binary) run all along.  Each round, the backend
# writes one --size byte PUBLISH to channel "bench" on one link per
# gateway worker, one after the other, 100 ms after a whole second of
# the wall clock; its payload carries the CLOCK_MONOTONIC time taken
# just before the first write (T0).  Per round:
#
#   - fan-out time: T0 to the LAST subscriber's read (ws-load reads the
#     clock at each read), and to the first; every subscriber must have
#     read it (else an anomaly).  Target: 50 ms (small), 500 ms (large).
#   - the gateway's event latency p99 and max over the status page's
#     1 s window, which is the second of the PUBLISH (the worker with
#     the largest p99), and its loop lag max.  Target p99 < 5 ms.
#   - the echo clients' round-trip p99 and max of the echoes sent during
#     the fan-out (T0 to the last read) and during that second.
#     Target p99 < 5 ms.
#
# The floor (--no-floor leaves it out): after each case, the least any
# user-space server can do in its place.  build/loadgen/ws-fanout-floor
# (scripts/loadgen/ws_fanout_floor.c) listens on NGINX's port, pinned
# like NGINX, with one SO_REUSEPORT process per worker of the case; the
# same subscribers connect, and each round, at the same instant in every
# process (T0, 100 ms after a whole second), it writes the prebuilt
# frame "fanout SEQ T0 ..." to each subscriber, one write() each.  No
# echo clients, no status page.  On loopback a send() costs some 10 us
# (the kernel delivers to the reader within the sender's syscall), so
# this is what the machine allows: the table shows the floor's T0 to the
# last read and "gateway / floor", the ratio of the medians.
#
# Medians over the rounds.  Also the workers' RSS (VmRSS summed) before
# the subscribers and while they are all connected, per session; and,
# for the large case, the same without ws_gateway_subscribe (a separate
# instance; --no-mem leaves it out): the bytes a subscription costs.
#
# The table goes to stderr, one JSON line to stdout (and
# build/bench/results.jsonl).
#
# usage: scripts/bench/fanout-bench.sh [--quick] [options]
#
#   --quick              2 rounds, small case, and large with 20,000
#   (default)            5 rounds
#   --rounds N           rounds per case
#   --cases LIST         small,large (default both)
#   --small N            subscribers of the small case (default 10000)
#   --large N            subscribers of the large case (default 100000)
#   --large-workers N    worker_processes of the large case (default 8)
#   --clients N          echo sessions (default 50)
#   --echo-rate N        their messages/s in total (default 2000)
#   --echo-via KIND      builtin (ws_gateway_pass builtin:echo, default)
#                        or relay (through the backend's links, which it
#                        echoes; the same upstream as the subscribers)
#   --size BYTES         the published payload (default 64)
#   --mode MODE          publish (default): PUBLISH and
#                        ws_gateway_subscribe; send: no channels, the
#                        backend SENDs to every session of every link
#                        (for gateways without channels)
#   --no-mem             no run without ws_gateway_subscribe
#   --no-floor           no floor runs (ws-fanout-floor)
#   --so PATH            the module to load (default: scripts/build.sh)
#   --server-cpu LIST    CPUs for NGINX and the backend (default 0)
#   --client-cpu LIST    CPUs for ws-load (default 1)
#   --no-pin             no taskset
#   --port-base N        ports N (NGINX) and N+1 (backend) on 127.0.0.1
#                        (default 3800)
#   -h, --help           this text
#
# Bounds: at most --large + --clients sessions at a time, from source
# addresses 127.0.0.2-127.0.0.250; every ws-load run, the backend and the
# floor end by themselves (-d, --max-time); NGINX, the backend, the floor
# and ws-load run in their own process groups and are stopped on exit,
# Ctrl-C included.
# Only the processes the script started are stopped.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=fanout-bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
ws_floor=$top/build/loadgen/ws-fanout-floor
out=$top/build/bench/last-fanout

mode=default
rounds=
# shellcheck disable=SC2034    # set by common_opt, unused here
duration=
cases=small,large
small=10000
large=
large_workers=8
clients=50
echo_rate=2000
echo_via=builtin
size=64
pub_mode=publish
mem=1
floor=1
# shellcheck disable=SC2034    # set by common_opt, unused here
workers=1
worker_connections=19000
server_cpu=0
client_cpu=1
pin=1
so=
port_base=3800
per_proc=15000
# the longest a round may take (s): publish, status, every read
round_max=20

while [ $# -gt 0 ]; do
    case $1 in
    --cases)         need_arg "$@"; cases=$2; shift 2 ;;
    --small)         need_arg "$@"; small=$2; shift 2 ;;
    --large)         need_arg "$@"; large=$2; shift 2 ;;
    --large-workers) need_arg "$@"; large_workers=$2; shift 2 ;;
    --clients)       need_arg "$@"; clients=$2; shift 2 ;;
    --echo-rate)     need_arg "$@"; echo_rate=$2; shift 2 ;;
    --echo-via)      need_arg "$@"; echo_via=$2; shift 2 ;;
    --size)          need_arg "$@"; size=$2; shift 2 ;;
    --mode)          need_arg "$@"; pub_mode=$2; shift 2 ;;
    --no-mem)        mem=0; shift ;;
    --no-floor)      floor=0; shift ;;
    --port-base)     need_arg "$@"; port_base=$2; shift 2 ;;
    *)               common_opt "$@"
                     [ "$opt_words" -gt 0 ] \
                         || die "unknown option \"$1\" (see --help)"
                     shift "$opt_words" ;;
    esac
done

case $mode in
quick)   : "${rounds:=2}" "${large:=20000}" ;;
*)       : "${rounds:=5}" ;;
esac
: "${large:=100000}"

need_uints rounds small large large_workers clients echo_rate size \
           port_base
[ "$rounds" -lt "$(( 64 / 2 ))" ] || die "--rounds must be below 32"
[ "$size" -ge 40 ] || die "--size must be 40 bytes or more"
case $echo_via in builtin|relay) ;; *) die "invalid --echo-via" ;; esac
case $pub_mode in publish|send) ;; *) die "invalid --mode" ;; esac
[ "$large" -le 200000 ] || die "--large: at most 200,000"
[ $(( large / large_workers )) -le 17000 ] \
    || die "--large / --large-workers must stay under 17,000 (a worker" \
           "may hold 20,000 files)"
[ "$small" -le 17000 ] || die "--small: at most 17,000 (one worker)"

IFS=, read -r -a clist <<< "$cases"
for c in "${clist[@]}"; do
    case $c in small|large) ;; *) die "unknown case \"$c\"" ;; esac
done

setup_host
build_module
build_loadgen
[ -x "$ws_floor" ] || die "no $ws_floor"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

port=$port_base
port_be=$(( port_base + 1 ))
ports_free "$port" "$port_be"

rm -rf "$out"
mkdir -p "$out/runs"
copy_module

trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

declare -A vals=()
anomalies=()

write_conf() {
    # write_conf PREFIX WORKERS SUBSCRIBE(0|1)
    local prefix=$1 w=$2 sub=$3 echo_pass=builtin:echo

    [ "$echo_via" = builtin ] || echo_pass=fan
    mkdir -p "$prefix/logs" "$prefix/tmp"
    {
        conf_common "$prefix" "$w" 1 "$worker_connections" warn
        cat <<CONF
    upstream fan {
        server 127.0.0.1:$port_be;
        ws_gateway_links 2;
    }

    server {
        listen 127.0.0.1:$port backlog=4096$(listen_opts "$w");

        location /sub {
            ws_gateway_pass fan;
CONF
        [ "$sub" = 1 ] && echo "            ws_gateway_subscribe bench;"
        cat <<CONF
        }

        location /echo {
            ws_gateway_pass $echo_pass;
        }

        location = /status {
            ws_gateway_status;
        }
    }
}
CONF
    } > "$prefix/nginx.conf"
}

start_server() {
    # start_server DIR WHAT PORT COMMAND...: a publishing server (WHAT:
    # the backend or the floor) in its own session, on the server CPU,
    # with a control FIFO (--control, added); sets $be_pid and $be_ctl
    # once it says it listens on PORT
    local dir=$1 what=$2 p=$3 i
    shift 3

    mkdir -p "$dir"
    be_ctl=$dir/control
    rm -f "$be_ctl"
    mkfifo "$be_ctl"
    setsid ${on_server_cpu[@]+"${on_server_cpu[@]}"} "$@" \
        --control "$be_ctl" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    be_pid=$!
    masters+=("$be_pid")
    for (( i = 0; i < 100; i++ )); do
        grep -q ': listening on' "$dir/stdout.log" 2>/dev/null && return 0
        kill -0 "$be_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$dir/stderr.log" >&2
    die "$what ($dir) does not listen on $p"
}

start_be() {
    # start_be DIR: the backend (fanout_backend.py) on PORT+1
    local extra=()

    [ "$echo_via" = relay ] && extra=(--echo)
    start_server "$1" "the backend" "$port_be" python3 \
        "$here/fanout_backend.py" --listen "127.0.0.1:$port_be" \
        --mode "$pub_mode" --size "$size" --max-time 900 \
        ${extra[@]+"${extra[@]}"}
}

start_floor() {
    # start_floor DIR PROCS: the floor (ws-fanout-floor, PROCS processes)
    # on the NGINX port, in NGINX's place
    start_server "$1" "the floor" "$port" "$ws_floor" \
        --listen "127.0.0.1:$port" --procs "$2" --size "$size" \
        --max-time 900
}

be_cmd() {
    # be_cmd DIR PATTERN COMMAND...: sends COMMAND, waits (at most 5 s)
    # for a new stdout line matching PATTERN and prints it
    local dir=$1 pat=$2 n i line
    shift 2
    n=$(grep -c -- "$pat" "$dir/stdout.log" || true)
    echo "$*" > "$be_ctl"
    for (( i = 0; i < 100; i++ )); do
        line=$(grep -- "$pat" "$dir/stdout.log" | sed -n "$(( n + 1 ))p")
        [ -z "$line" ] || { echo "$line"; return 0; }
        sleep 0.05
    done
    return 1
}

field() {
    # field LINE KEY: the value of KEY=VALUE in LINE
    sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< " $1"
}

rss_kb() {
    # the workers' VmRSS, summed, in kB
    local p t=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) \
            || v=0
        t=$(( t + ${v:-0} ))
    done
    echo "$t"
}

load_start() {
    # load_start FILE ws-load-args...: a ws-load job; sets $job_pid
    local f=$1
    shift
    setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} \
        "$ws_load" "$@" >"$f.json" 2>"$f.stderr" &
    job_pid=$!
    jobs_running+=("$job_pid")
}

load_wait() {
    # load_wait PID FILE TAG
    local rc=0
    wait "$1" || rc=$?
    job_done "$1"
    [ "$rc" = 0 ] && [ -s "$2.json" ] \
        || anomaly "$3: ws-load exited with $rc: $(tail -n 2 "$2.stderr" \
                    | tr '\n' ' ')"
}

wait_ready() {
    # wait_ready FILE SECONDS: until ws-load's "ready" line; prints it
    local i
    for (( i = 0; i < $2 * 10; i++ )); do
        if grep -q 'ws-load: ready' "$1.stderr" 2>/dev/null; then
            grep 'ws-load: ready' "$1.stderr"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

wait_sessions() {
    # wait_sessions DIR N: until the backend has N sessions open (their
    # OPEN records), at most 30 s; prints its last status line
    local i line
    for (( i = 0; i < 60; i++ )); do
        line=$(be_cmd "$1" '^status ' status) || line=
        if [ -n "$line" ] && [ "$(field "$line" sessions)" -ge "$2" ]; then
            echo "$line"
            return 0
        fi
        sleep 0.5
    done
    echo "$line"
    return 1
}

window_figures() {
    # window_figures FILE: "event_p99 event_max lag_max" of the worker
    # with the largest event latency p99 in the 1 s window
    grep -o '"1s":{[^{}]*"event_latency_us":{[^{}]*},"loop_lag_us":{[^{}]*}' \
        "$1" 2>/dev/null \
        | sed -n 's/.*"event_latency_us":{[^}]*"p99":\([0-9]*\)[^}]*"max":\([0-9]*\)}.*"loop_lag_us":{[^}]*"max":\([0-9]*\)}.*/\1 \2 \3/p' \
        | sort -n -k1,1 | tail -n 1 || true
}

echo_window() {
    # echo_window SAMPLES FROM TO: "count p99 max" of the echoes whose
    # intended send time is in [FROM, TO] (us, CLOCK_MONOTONIC)
    cat "$1"* 2>/dev/null \
        | awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2 }' \
        | sort -n | awk '{ v[NR] = $1 }
            END { if (NR == 0) { print "0 null null"; exit }
                  i = int(NR * 0.99 + 0.999999); if (i > NR) i = NR
                  print NR, v[i], v[NR] }'
}

us_to_ms() {
    awk -v v="$1" 'BEGIN { if (v == "null" || v == "") print "null"
                           else printf "%.1f", v / 1000 }'
}

subscribers_start() {
    # subscribers_start FILE N SECONDS: ws-load subscribe, 15,000 a process
    local procs=$(( ($2 + per_proc - 1) / per_proc ))
    # not quiet: its progress lines count the messages read
    load_start "$1" subscribe "ws://127.0.0.1:$port/sub" -c "$2" \
        -P "$procs" -d "$3" --reset-at-end
}

wait_delivered() {
    # wait_delivered FILE COUNT SECONDS: until the subscribers' progress
    # lines count COUNT messages read (at most SECONDS); false if not
    local i m
    for (( i = 0; i < $3 * 5; i++ )); do
        m=$(grep -o 'messages=[0-9]*' "$1.stderr" 2>/dev/null | tail -n 1 \
            | cut -d= -f2 || true)
        [ "${m:-0}" -lt "$2" ] || return 0
        sleep 0.2
    done
    return 1
}

case_size() {
    # case_size CASE: sets $n (subscribers) and $w (workers) of the case
    if [ "$1" = small ]; then n=$small; w=1; else n=$large; w=$large_workers; fi
}

gateway_up() {
    # gateway_up PREFIX WORKERS SUBSCRIBE(0|1): the backend
    # (PREFIX/backend) and NGINX, every link up; sets $master, $wpids and
    # $rss0 (the workers' RSS, kB)
    write_conf "$1" "$2" "$3"
    start_be "$1/backend"
    start_nginx "$1" "$port"
    master=$nginx_pid
    links_up "$port_be" $(( $2 * 2 ))
    # shellcheck disable=SC2086
    wpids=$(workers_of $master)
    sleep 0.5
    # shellcheck disable=SC2086
    rss0=$(rss_kb $wpids)
}

gateway_down() {
    # gateway_down TAG PREFIX: the error log's lines, NGINX and the
    # backend stopped
    log_lines "$1" "$2/logs/error.log"
    stop_nginx "$master"
    stop_nginx "$be_pid"
}

subscribers_up() {
    # subscribers_up TAG FILE N SECONDS DIR: N subscribers for SECONDS at
    # most, until every one is established and the server (DIR: the
    # backend or the floor) counts them open; sets $sp (their job)
    local tag=$1 f=$2 n=$3 dir=$5 line

    subscribers_start "$f" "$n" "$4"
    sp=$job_pid
    line=$(wait_ready "$f" $(( 30 + n / 1000 ))) \
        || anomaly "$tag: subscribers not ready in time"
    say "$tag: $line"
    [ "$(field "$line" established)" = "$n" ] \
        || anomaly "$tag: $(field "$line" established) of $n subscribers" \
                   "established"
    line=$(wait_sessions "$dir" "$n") \
        || anomaly "$tag: the server saw only: $line"
}

publish_rounds() {
    # publish_rounds TAG DIR FILE N HOOK: each round, a publish by the
    # server of DIR, 100 ms after a whole second of the wall clock, then
    # HOOK ROUND LINE (LINE: its "published" line), then the wait until
    # the N subscribers (FILE-sub) have read it
    local tag=$1 dir=$2 f=$3 n=$4 hook=$5 r line

    for (( r = 1; r <= rounds; r++ )); do
        line=$(be_cmd "$dir" "^published seq=$r " publish "$r" 100) \
            || { anomaly "$tag-r$r: the server did not publish"; continue; }
        echo "$line" >> "$f-published.txt"
        "$hook" "$r" "$line"
        # the next round once every subscriber has read this one
        wait_delivered "$f-sub" $(( r * n )) $(( round_max - 3 )) \
            || anomaly "$tag-r$r: not every subscriber read the message" \
                       "within $(( round_max - 3 )) s"
    done
}

deliveries() {
    # deliveries TAG FILE N KEY [HOOK]: the subscribers' figures of each
    # round (FILE-sub.json) into vals[KEYcount], [KEYfirst_us] and
    # [KEYlast_us]; HOOK ROUND T0 LAST may add to them and set
    # $round_note, the end of the round's progress line
    local tag=$1 f=$2 n=$3 key=$4 hook=${5:-} r line t0 cnt first last

    for (( r = 1; r <= rounds; r++ )); do
        line=$(grep -o "{\"seq\":$r,[^}]*}" "$f-sub.json" || true)
        t0=$(sed -n 's/.*"t0_us":\([0-9]*\).*/\1/p' <<< "$line")
        cnt=$(sed -n 's/.*"count":\([0-9]*\).*/\1/p' <<< "$line")
        first=$(sed -n 's/.*"first_us":\(-*[0-9]*\).*/\1/p' <<< "$line")
        last=$(sed -n 's/.*"last_us":\(-*[0-9]*\).*/\1/p' <<< "$line")
        if [ -z "$line" ]; then
            anomaly "$tag-r$r: no subscriber read the message"
            add "${key}count" 0
            continue
        fi
        add "${key}count" "$cnt"
        add "${key}first_us" "$first"
        add "${key}last_us" "$last"
        [ "$cnt" = "$n" ] \
            || anomaly "$tag-r$r: $cnt of $n subscribers read the message"
        round_note=
        [ -z "$hook" ] || "$hook" "$r" "$t0" "$last"
        say "$tag round $r: $cnt read it, the last after $last us (first" \
            "$first us)$round_note"
    done
}

subscribers_checked() {
    # subscribers_checked TAG FILE: no duplicate reads, no errors in the
    # subscribers' JSON line
    jparse "$2"
    [ "$(jv fanout.duplicates)" = 0 ] \
        || anomaly "$1: $(jv fanout.duplicates) duplicate reads"
    [ "$(jv errors.total)" = 0 ] \
        || anomaly "$1: subscribers: $(jv errors.total) errors"
}

server_quiet() {
    # server_quiet TAG DIR WHAT: the server of DIR (WHAT: backend or
    # floor) wrote nothing on stderr
    [ ! -s "$2/stderr.log" ] \
        || anomaly "$1: the $3 wrote $(wc -l < "$2/stderr.log")" \
                   "line(s) on stderr"
}

gateway_round() {
    # gateway_round ROUND LINE (publish_rounds' hook, in run_case): the
    # status page's 1 s window of the PUBLISH's second
    local r=$1 line=$2 fig ev99 evmax lagmax

    # the status page's 1 s window is the second of the PUBLISH once
    # the next second's tick has run
    sleep "$(awk -v t="$(field "$line" realtime)" -v now="$EPOCHREALTIME" \
             'BEGIN { d = int(t) + 1.4 - now; print (d > 0 ? d : 0) }')"
    curl -s --max-time 5 "http://127.0.0.1:$port/status?format=json" \
        | tr -d '\n' > "$f-status-r$r.json" || true
    fig=$(window_figures "$f-status-r$r.json")
    [ -n "$fig" ] || anomaly "$c-r$r: no 1s window in /status"
    read -r ev99 evmax lagmax <<< "${fig:-null null null}"
    add "$c.ev99" "$ev99"
    add "$c.evmax" "$evmax"
    add "$c.lagmax" "$lagmax"
    add "$c.fanout_max_us" "$(grep -o '"fanout_max_us":[0-9]*' \
        "$f-status-r$r.json" | head -n 1 | cut -d: -f2 || true)"
    say "$c round $r: published on $(field "$line" links) link(s)" \
        "(write $(field "$line" write_us) us); event latency p99" \
        "$ev99 us, max $evmax us"
}

gateway_delivery() {
    # gateway_delivery ROUND T0 LAST (deliveries' hook, in run_case): the
    # echoes during the fan-out and in its second
    local t0=$2 last=$3 e1 e2 e3

    read -r e1 e2 e3 <<< "$(echo_window "$f-echo.samples" "$t0" \
                            $(( t0 + last )))"
    add "$c.echo_n_fan" "$e1"
    add "$c.echo99_fan" "$e2"
    add "$c.echomax_fan" "$e3"
    round_note="; echo p99 during it $e2 us"
    read -r e1 e2 e3 <<< "$(echo_window "$f-echo.samples" \
                            $(( t0 - 100000 )) $(( t0 + 900000 )))"
    add "$c.echo_n_sec" "$e1"
    add "$c.echo99_sec" "$e2"
    add "$c.echomax_sec" "$e3"
}

floor_round() {
    # floor_round ROUND LINE (publish_rounds' hook, in run_floor)
    local r=$1 line=$2

    add "$c.floor_write_us" "$(field "$line" write_us)"
    add "$c.floor_late_us" "$(field "$line" late_us)"
    [ "$(field "$line" sessions)" = "$n" ] \
        || anomaly "$c-floor-r$r: written to $(field "$line" sessions)" \
                   "of $n sessions"
    [ "$(field "$line" short)" = 0 ] && [ "$(field "$line" errors)" = 0 ] \
        || anomaly "$c-floor-r$r: $(field "$line" short) short and" \
                   "$(field "$line" errors) failed write(s)"
    say "$c floor round $r: written to $(field "$line" sessions)" \
        "session(s) by $(field "$line" workers) process(es), the longest" \
        "loop $(field "$line" write_us) us, started" \
        "$(field "$line" late_us) us after T0"
}

run_case() {
    # run_case CASE: one instance, its rounds
    local c=$1 n w prefix dir f master wpids rss0 rss1 sp ep

    case_size "$c"
    prefix=$out/$c
    dir=$prefix/backend
    f=$out/runs/$c

    gateway_up "$prefix" "$w" \
        "$([ "$pub_mode" = publish ] && echo 1 || echo 0)"

    say "$c: $n subscribers, $w worker(s)"
    subscribers_up "$c" "$f-sub" "$n" \
        $(( 60 + rounds * round_max + n / 2000 )) "$dir"
    sleep 1
    # shellcheck disable=SC2086
    rss1=$(rss_kb $wpids)
    add "$c.rss_kb" "$(( rss1 - rss0 ))"
    add "$c.rss_per_session" "$(( (rss1 - rss0) * 1024 / n ))"

    load_start "$f-echo" echo "ws://127.0.0.1:$port/echo" -c "$clients" \
        -R "$echo_rate" -s 64 --binary -d $(( rounds * round_max + 4 )) \
        --samples "$f-echo.samples" -q
    ep=$job_pid
    wait_ready "$f-echo" 10 >/dev/null || anomaly "$c: echo clients not ready"
    sleep 1

    publish_rounds "$c" "$dir" "$f" "$n" gateway_round

    # both end early, cleanly (SIGTERM), and report
    kill -TERM "$ep" "$sp" 2>/dev/null || true
    load_wait "$ep" "$f-echo" "$c-echo"
    load_wait "$sp" "$f-sub" "$c-sub"

    deliveries "$c" "$f" "$n" "$c." gateway_delivery
    subscribers_checked "$c" "$f-sub.json"
    jparse "$f-echo.json"
    add "$c.echo99_all" "$(jv latency_us.p99)"
    [ "$(jv errors.total)" = 0 ] && [ "$(jv counters.failed)" = 0 ] \
        || anomaly "$c: echo clients: failed=$(jv counters.failed)" \
                   "errors=$(jv errors.total)"
    server_quiet "$c" "$dir" backend
    gateway_down "$c" "$prefix"
}

run_floor() {
    # run_floor CASE: the floor in the gateway's place (its port, its
    # CPUs), the case's subscribers and rounds; no echo clients
    local c=$1 n w dir f sp

    case_size "$c"
    dir=$out/$c-floor
    f=$out/runs/$c-floor

    start_floor "$dir" "$w"
    say "$c floor: $n subscribers, $w process(es)"
    subscribers_up "$c-floor" "$f-sub" "$n" \
        $(( 60 + rounds * round_max + n / 2000 )) "$dir"
    sleep 1

    publish_rounds "$c-floor" "$dir" "$f" "$n" floor_round

    kill -TERM "$sp" 2>/dev/null || true
    load_wait "$sp" "$f-sub" "$c-floor-sub"

    deliveries "$c-floor" "$f" "$n" "$c.floor_"
    subscribers_checked "$c-floor" "$f-sub.json"
    server_quiet "$c-floor" "$dir" floor
    stop_nginx "$be_pid"
}

run_mem() {
    # run_mem: the large case's memory without ws_gateway_subscribe
    local n=$large w=$large_workers prefix=$out/large-nosub f master wpids
    local rss0 rss1 sp

    f=$out/runs/large-nosub
    gateway_up "$prefix" "$w" 0
    say "large without ws_gateway_subscribe: $n sessions"
    subscribers_up large-nosub "$f-sub" "$n" $(( 40 + n / 2000 )) \
        "$prefix/backend"
    sleep 1
    # shellcheck disable=SC2086
    rss1=$(rss_kb $wpids)
    add "nosub.rss_kb" "$(( rss1 - rss0 ))"
    add "nosub.rss_per_session" "$(( (rss1 - rss0) * 1024 / n ))"
    kill -TERM "$sp" 2>/dev/null || true
    load_wait "$sp" "$f-sub" "large-nosub"
    gateway_down large-nosub "$prefix"
}

declare -A log_counts=()

log_lines() {
    # log_lines TAG FILE: error-log lines of warn and above, an anomaly
    local k
    k=$(grep -c -E '\[(warn|error|crit|alert|emerg)\]' "$2" 2>/dev/null \
        || true)
    log_counts[$1]=${k:-0}
    [ "${k:-0}" = 0 ] || anomaly "$1: $k error-log line(s) of warn and above"
}

say "module $module_id; mode $pub_mode; cases $cases; $rounds round(s);" \
    "$clients echo clients at $echo_rate msg/s ($echo_via)"

for c in "${clist[@]}"; do
    run_case "$c"
    sleep 1
    if [ "$floor" = 1 ]; then
        run_floor "$c"
        sleep 1
    fi
done
if [ "$mem" = 1 ] && [[ ,$cases, == *,large,* ]]; then
    run_mem
fi

med() {
    # shellcheck disable=SC2086
    median ${vals[$1]:-null}
}

target_of() {
    [ "$1" = small ] && echo 50000 || echo 500000
}

ratio_to_floor() {
    # ratio_to_floor CASE: the median last read through the gateway over
    # the floor's, or null
    awk -v g="$(med "$1.last_us")" -v f="$(med "$1.floor_last_us")" \
        'BEGIN { if (g == "null" || f == "null" || f <= 0) print "null"
                 else printf "%.1f\n", g / f }'
}

met() {
    # met VALUE LIMIT: true, false or null
    [ "$1" != null ] || { echo null; return; }
    awk -v v="$1" -v l="$2" 'BEGIN { print (v < l ? "true" : "false") }'
}

# the table's first column
lw=58

{
    printf '\n%-*s' "$lw" "median over $rounds round(s)"
    for c in "${clist[@]}"; do printf '%12s' "$c"; done
    printf '%10s\n' "target"
    row() {
        # row LABEL KEY [TARGET] [ms]
        local c v
        printf '%-*s' "$lw" "$1"
        for c in "${clist[@]}"; do
            v=$(med "$c.$2")
            [ "${4:-}" != ms ] || v=$(us_to_ms "$v")
            printf '%12s' "$v"
        done
        printf '%10s\n' "${3:-}"
    }
    printf '%-*s' "$lw" "subscribers"
    for c in "${clist[@]}"; do
        if [ "$c" = small ]; then printf '%12s' "$small"
        else printf '%12s' "$large"; fi
    done
    printf '\n'
    row "fan-out: T0 to the last read, ms" last_us "50/500" ms
    row "fan-out: T0 to the first read, ms" first_us "" ms
    row "subscribers that read it" count
    if [ "$floor" = 1 ]; then
        row "floor (one write per subscriber): T0 to the last read, ms" \
            floor_last_us "" ms
        row "floor: T0 to the first read, ms" floor_first_us "" ms
        row "floor: subscribers that read it" floor_count
        row "floor: its longest write loop, us" floor_write_us
        printf '%-*s' "$lw" "gateway / floor (T0 to the last read)"
        for c in "${clist[@]}"; do printf '%12s' "$(ratio_to_floor "$c")"; done
        printf '\n'
    fi
    row "gateway fanout_max_us (status)" fanout_max_us
    row "event latency p99 us (1 s window)" ev99 "< 5000"
    row "event latency max us (1 s window)" evmax
    row "loop lag max us (1 s window)" lagmax
    row "echo p99 us, during the fan-out" echo99_fan "< 5000"
    row "echo max us, during the fan-out" echomax_fan
    row "echoes during the fan-out" echo_n_fan
    row "echo p99 us, in its second" echo99_sec "< 5000"
    row "echo p99 us, whole run" echo99_all
    row "worker RSS kB, held sessions" rss_kb
    row "worker RSS bytes per session" rss_per_session
    if [ -n "${vals[nosub.rss_per_session]:-}" ]; then
        printf '%-*s%12s%12s\n' "$lw" \
            "without ws_gateway_subscribe (large)" "" \
            "$(med nosub.rss_per_session)"
        printf '%-*s%12s%12s\n' "$lw" "bytes per subscription (large)" "" \
            "$(( $(med large.rss_per_session) - $(med nosub.rss_per_session) ))"
    fi
    for c in "${clist[@]}"; do
        printf 'rounds %s: last read us %s; event latency p99 %s\n' "$c" \
            "${vals[$c.last_us]:-}" "${vals[$c.ev99]:-}"
        [ "$floor" = 0 ] \
            || printf 'rounds %s, floor: last read us %s\n' "$c" \
                      "${vals[$c.floor_last_us]:-}"
    done
    if [ ${#anomalies[@]} -gt 0 ]; then
        printf '\nanomalies:\n'
        printf '  %s\n' "${anomalies[@]}"
    fi
    printf '\nfiles: %s\n' "$out"
} >&2

json=$(printf '{"bench":"fanout-bench","mode":"%s","module":%s,' \
       "$mode" "$(json_str "$module_id")")
json+="\"publish_mode\":\"$pub_mode\",\"rounds\":$rounds,\"size\":$size,"
json+="\"clients\":$clients,\"echo_rate\":$echo_rate,"
json+="\"echo_via\":\"$echo_via\",\"pinned\":$([ "$pin" = 1 ] && echo true \
       || echo false),\"floor\":$([ "$floor" = 1 ] && echo true \
       || echo false),\"results\":{"
first=1
for c in "${clist[@]}"; do
    [ "$first" = 1 ] || json+=","
    first=0
    case_size "$c"
    json+="\"$c\":{\"subscribers\":$n,\"workers\":$w"
    for k in last_us first_us count fanout_max_us ev99 evmax lagmax \
             echo99_fan echomax_fan echo_n_fan echo99_sec echomax_sec \
             echo_n_sec echo99_all rss_kb rss_per_session floor_last_us \
             floor_first_us floor_count floor_write_us floor_late_us; do
        v=$(med "$c.$k")
        [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || v=null
        json+=",\"$k\":$v"
    done
    json+=",\"last_us_rounds\":[$(tr ' ' ',' <<< "${vals[$c.last_us]:-}")]"
    json+=",\"floor_last_us_rounds\":[$(tr ' ' ',' \
            <<< "${vals[$c.floor_last_us]:-}")]"
    json+=",\"ratio_to_floor\":$(ratio_to_floor "$c")"
    json+=",\"ev99_rounds\":[$(tr ' ' ',' <<< "${vals[$c.ev99]:-}" \
            | sed 's/null//g')]"
    json+=",\"met\":{\"fanout\":$(met "$(med "$c.last_us")" \
            "$(target_of "$c")"),\"event_latency\":$(met "$(med "$c.ev99")" \
            5000),\"echo\":$(met "$(med "$c.echo99_fan")" 5000)}}"
done
json+="}"
if [ -n "${vals[nosub.rss_per_session]:-}" ]; then
    json+=",\"nosub_rss_per_session\":$(med nosub.rss_per_session)"
fi
json+=",\"targets_us\":{\"small\":50000,\"large\":500000,\"latency\":5000}"
json+=",\"log_lines\":{"
first=1
for k in "${!log_counts[@]}"; do
    [ "$first" = 1 ] || json+=","
    first=0
    json+="\"$k\":${log_counts[$k]}"
done
json+="},\"anomalies\":[$(json_strs ${anomalies[@]+"${anomalies[@]}"})],"
json+="\"elapsed_s\":$SECONDS}"
put_result "$json"
