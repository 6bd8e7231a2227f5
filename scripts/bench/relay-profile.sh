#!/usr/bin/env bash
#
# Where the relay path spends its CPU: NGINX + the module relaying over
# links (ws_gateway_pass NAME, ws_gateway_links L) to
# build/backend/echo-backend, under a closed-loop echo of ws-load, with
# perf sampling the NGINX workers and echo-backend (apart).  Prints the
# top functions of each (perf report --no-children, by symbol), the
# share of each binary (kernel, libc, nginx, the module), and then, over
# a second window of the same load, the system calls and context
# switches of each per message (perf stat; per message: over ws-load's
# mean rate) on stderr; the perf data and reports stay in
# build/bench/last-profile/.
#
# usage: scripts/bench/relay-profile.sh [options]
#
#   --size BYTES       message size (default 64)
#   --connections N    sessions (default 200)
#   --duration SEC     seconds sampled, then seconds counted (default 5;
#                      ws-load runs twice that and 3 s more)
#   --workers N        worker_processes (default 2)
#   --links N          ws_gateway_links (default 2)
#   --top N            functions shown per process (default 15)
#   --callgraph        perf record --call-graph dwarf (call chains in
#                      the reports)
#   --port-base N      ports N (NGINX) and N+1 (echo-backend), default 2316
#   --server-cpu LIST  CPUs for NGINX and echo-backend (default 0)
#   --client-cpu LIST  CPUs for ws-load (default 1)
#   --no-pin           no taskset
#   --so PATH          this ngx_ws_gateway_module.so instead of building
#   -h, --help         this text
#
# Needs perf (linux-perf) and the right to sample the processes (root,
# or kernel.perf_event_paranoid <= 1).  Every process it starts stops by
# itself or at the end (perf and ws-load are bounded by --duration).

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench_name=relay-profile
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
ws_load=$top/build/loadgen/ws-load
out=$top/build/bench/last-profile

size=64
connections=200
duration=5
workers=2
links=2
ntop=15
callgraph=0
port_base=2316
server_cpu=0
client_cpu=1
pin=1
so=
mode=default
worker_connections=19000

while [ $# -gt 0 ]; do
    case $1 in
    --size)         need_arg "$@"; size=$2; shift 2 ;;
    --connections)  need_arg "$@"; connections=$2; shift 2 ;;
    --links)        need_arg "$@"; links=$2; shift 2 ;;
    --top)          need_arg "$@"; ntop=$2; shift 2 ;;
    --callgraph)    callgraph=1; shift ;;
    --port-base)    need_arg "$@"; port_base=$2; shift 2 ;;
    *)              common_opt "$@"
                    [ "$opt_words" -gt 0 ] \
                        || die "unknown option \"$1\" (see --help)"
                    shift "$opt_words" ;;
    esac
done

need_uints size connections duration workers links ntop port_base
[ "$links" -le 64 ] || die "invalid --links (1-64)"
command -v perf >/dev/null || die "perf is not installed"
: "$mode"

setup_host
build_module
build_loadgen
port=$port_base
port_be=$(( port_base + 1 ))
ports_free "$port" "$port_be"

rm -rf "$out"
mkdir -p "$out"
copy_module
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

start_backend "$out/backend" "$port_be"
be=$backend_pid
write_relay_conf "$out/relay" "$workers" "$links" "$port" "$port_be"
start_nginx "$out/relay" "$port"
m=$nginx_pid
links_up "$port_be" $(( workers * links ))
wpids=$(workers_of "$m")

say "module $module_id; workers $wpids, echo-backend $be; $connections" \
    "sessions, $size-byte binary messages, ${duration}s sampled"

# the load: one second of warm-up, the samples, one more second
setsid ${on_client_cpu[@]+"${on_client_cpu[@]}"} "$ws_load" echo \
    "ws://127.0.0.1:$port/echo" -c "$connections" -P 1 \
    -d $(( 2 * duration + 3 )) -s "$size" --binary -q \
    >"$out/ws-load.json" 2>"$out/ws-load.stderr" &
jobs_running=("$!")
lpid=$!
sleep 1

g=()
[ "$callgraph" = 1 ] && g=(--call-graph dwarf)
perf record -q ${g[@]+"${g[@]}"} -F 2000 -o "$out/nginx.data" \
    -p "$(echo "$wpids" | tr -s ' ' ',' | sed 's/^,//; s/,$//')" \
    -- sleep "$duration" >"$out/perf-nginx.log" 2>&1 &
p1=$!
perf record -q ${g[@]+"${g[@]}"} -F 2000 -o "$out/backend.data" \
    -p "$be" -- sleep "$duration" >"$out/perf-backend.log" 2>&1 &
p2=$!
wait "$p1" || say "perf (nginx) exited with $?: $(tail -n 2 \
    "$out/perf-nginx.log" | tr '\n' ' ')"
wait "$p2" || say "perf (backend) exited with $?: $(tail -n 2 \
    "$out/perf-backend.log" | tr '\n' ' ')"

# system calls and context switches, a second window
evs=raw_syscalls:sys_enter,context-switches
perf stat -x, -e "$evs" -o "$out/nginx.stat" \
    -p "$(echo "$wpids" | tr -s ' ' ',' | sed 's/^,//; s/,$//')" \
    -- sleep "$duration" >/dev/null 2>&1 &
p1=$!
perf stat -x, -e "$evs" -o "$out/backend.stat" -p "$be" \
    -- sleep "$duration" >/dev/null 2>&1 &
p2=$!
wait "$p1" || say "perf stat (nginx) exited with $?"
wait "$p2" || say "perf stat (backend) exited with $?"

wait "$lpid" || say "ws-load exited with $?"
jobs_running=()

jparse "$out/ws-load.json"
say "ws-load: $(jv rates.messages_per_s) msg/s, failed $(jv \
    counters.failed), errors $(jv errors.total)"

stop_nginx "$m"
stop_nginx "$be"

for n in nginx backend; do
    perf report -i "$out/$n.data" --no-children --sort symbol \
        --percent-limit 0.5 --stdio 2>/dev/null > "$out/$n.report" || true
    {
        echo
        if [ "$n" = nginx ]; then
            echo "NGINX workers (self time, top $ntop):"
        else
            echo "echo-backend (self time, top $ntop):"
        fi
        grep -E '^ +[0-9.]+%' "$out/$n.report" | head -n "$ntop" \
            | awk '{ printf "  %7s %s %s\n", $1, $2, $3 }'
        echo "  by binary:$(perf report -i "$out/$n.data" --no-children \
             --sort dso --stdio 2>/dev/null | awk '/^ +[0-9.]+%/ {
                 if ($1 + 0 >= 0.5) printf " %s %s", $2, $1 }')"
        rate=$(jv rates.messages_per_s)
        awk -F, -v r="$rate" -v d="$duration" '
            $3 ~ /raw_syscalls|context-switches/ && r + 0 > 0 {
                printf "  %s: %.0f/s, %.2f per message\n", \
                       ($3 ~ /sys/ ? "system calls" : "context switches"), \
                       $1 / d, $1 / d / r }' "$out/$n.stat"
    } >&2
done
echo "reports: $out/nginx.report $out/backend.report" >&2
