# shellcheck shell=bash
#
# Helpers shared by the benchmarks in scripts/bench/ (echo-bench.sh,
# handshake-bench.sh, overload-bench.sh, fairness-bench.sh); not a
# program.  A benchmark sets bench_name (the
# prefix of its messages) and sources this file, after set -euo pipefail:
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   bench_name=echo-bench
#   . "$here/lib.sh"
#
# The functions read and set the benchmark's globals where their
# comments say so (mode, rounds, so, pin, vals, ...), as they did when
# each benchmark had its own copy.

# "A && B || die" below means: die unless both hold
# shellcheck disable=SC2015

: "${bench_name:?set bench_name before sourcing lib.sh}"

die() {
    echo "$bench_name: $*" >&2
    exit 1
}

say() {
    echo "$bench_name: [${SECONDS}s] $*" >&2
}

usage() {
    # the header comment, up to its first blank line
    awk 'NR < 3 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"
}

is_uint() {
    [[ $1 =~ ^[0-9]+$ ]]
}

need_arg() {
    [ $# -ge 2 ] || die "option $1 needs a value"
}

# shellcheck disable=SC2034    # the globals it sets are the caller's
common_opt() {
    # common_opt "$@": the options every benchmark takes (--quick,
    # --full, --rounds, --duration, --workers, --disturb-pct,
    # --server-cpu, --client-cpu, --no-pin, --so, -h/--help); sets
    # their globals and $opt_words, the words taken (0: not one of them)
    opt_words=1
    case $1 in
    --quick)        mode=quick ;;
    --full)         mode=full ;;
    --rounds)       need_arg "$@"; rounds=$2; opt_words=2 ;;
    --duration)     need_arg "$@"; duration=$2; opt_words=2 ;;
    --workers)      need_arg "$@"; workers=$2; opt_words=2 ;;
    --disturb-pct)  need_arg "$@"; disturb_pct=$2; opt_words=2 ;;
    --server-cpu)   need_arg "$@"; server_cpu=$2; opt_words=2 ;;
    --client-cpu)   need_arg "$@"; client_cpu=$2; opt_words=2 ;;
    --no-pin)       pin=0 ;;
    --so)           need_arg "$@"; so=$2; opt_words=2 ;;
    -h|--help)      usage; exit 0 ;;
    *)              opt_words=0 ;;
    esac
}

need_uints() {
    # need_uints VAR...: each variable holds a whole number >= 1, or die
    # "invalid --VAR" (underscores as dashes)
    local v
    for v in "$@"; do
        is_uint "${!v}" && [ "${!v}" -ge 1 ] || die "invalid --${v//_/-}"
    done
}

# shellcheck disable=SC2034,SC2154    # pin, server_cpu, client_cpu: the caller's
setup_host() {
    # after the options: pinning ($pin, on_server_cpu, on_client_cpu,
    # and watch_cpus: when pinned to one CPU each, the CPU time other
    # processes take there is reported, this machine may be shared),
    # /usr/bin/time for ws-load ($timer) and NGINX ($nginx_bin)
    if [ "$pin" = 1 ]; then
        if ! command -v taskset >/dev/null \
           || [ "$(nproc 2>/dev/null || echo 1)" -lt 2 ]; then
            say "no taskset or a single CPU: not pinning"
            pin=0
        fi
    fi

    on_server_cpu=()
    on_client_cpu=()
    if [ "$pin" = 1 ]; then
        on_server_cpu=(taskset -c "$server_cpu")
        on_client_cpu=(taskset -c "$client_cpu")
    fi

    watch_cpus=0
    if [ "$pin" = 1 ] && is_uint "$server_cpu" && is_uint "$client_cpu"; then
        watch_cpus=1
    fi

    timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%U %S %e')

    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$nginx_bin" ] || die "nginx not found"
}

# shellcheck disable=SC2154    # top, so: the caller's
build_module() {
    # build what is missing (quietly): $so, unless --so named one (then
    # kept in $so_given), is built with scripts/build.sh
    mkdir -p "$top/build/bench"
    so_given=$so
    if [ -z "$so" ]; then
        so=$("$top/scripts/build.sh" 2>"$top/build/bench/build.log" \
             | tail -n 1) \
            || { cat "$top/build/bench/build.log" >&2; die "module build failed"; }
    fi
    [ -f "$so" ] || die "no module \"$so\""
}

# shellcheck disable=SC2154    # top, ws_load: the caller's
build_loadgen() {
    make -s -C "$top/scripts/loadgen" >&2 || die "cannot build ws-load"
    [ -x "$ws_load" ] || die "no $ws_load"
}

ports_free() {
    # ports_free PORT...: nothing listens on 127.0.0.1:PORT, or die
    local p
    for p in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            die "127.0.0.1:$p is in use (another benchmark running?)"
        fi
    done
}

# shellcheck disable=SC2034,SC2154    # out, top, so_given: the caller's
copy_module() {
    # every NGINX of the run loads the same copy, $out/ (now $so), even
    # if the module is rebuilt while the benchmark runs; sets $module_id
    # (md5 prefix, and --so's path or the git tree it was built from)
    cp "$so" "$out/ngx_ws_gateway_module.so"
    so=$out/ngx_ws_gateway_module.so
    module_id="$(md5sum < "$so" | cut -c1-12)"
    if [ -n "$so_given" ]; then
        module_id+=" ($so_given)"
    elif git -C "$top" rev-parse -q --verify HEAD >/dev/null 2>&1; then
        module_id+=" (tree $(git -C "$top" rev-parse --short HEAD)$(git -C \
            "$top" diff --quiet HEAD -- ngx_ws_gateway_module config \
            2>/dev/null || echo +changes))"
    fi
}

# NGINX configuration

conf_common() {
    # conf_common PREFIX WORKERS LOAD_MODULE(0|1) WORKER_CONNECTIONS
    # ERROR_LOG_LEVEL: the top of an nginx.conf, up to the http block's
    # temp paths (the caller adds the rest and closes the http block);
    # LOAD_MODULE 1 loads $so
    local prefix=$1 w=$2 mod=$3 wc=$4 level=$5

    [ "$mod" = 1 ] && echo "load_module $so;"
    cat <<CONF
worker_processes $w;
worker_rlimit_nofile 20000;
error_log $prefix/logs/error.log $level;
pid $prefix/logs/nginx.pid;

events {
    worker_connections $wc;
}

http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
CONF
}

listen_opts() {
    # listen_opts WORKERS: reuseport spreads the sessions evenly over
    # several workers
    [ "$1" -gt 1 ] && echo " reuseport"
    true
}

# measuring

# shellcheck disable=SC2034    # clock ticks per second, for the caller
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)

cpu_busy() {
    # user + nice + system ticks of one CPU (/proc/stat), or 0
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4; f = 1 }
                      END { if (!f) print 0 }' /proc/stat
}

# shellcheck disable=SC2034    # cli_cpu: the caller's
read_cli_cpu() {
    # read_cli_cpu FILE: $cli_cpu, ws-load's CPU in % from the line
    # "%U %S %e" of /usr/bin/time in FILE, "null" without one
    cli_cpu=null
    if [ -s "$1" ]; then
        cli_cpu=$(tail -n 1 "$1" | awk '$3 > 0 {
                      printf "%.0f", ($1 + $2) / $3 * 100 }')
        cli_cpu=${cli_cpu:-null}
    fi
}

add() {
    # add KEY VALUE: appends VALUE to the caller's vals[KEY] (declare -A
    # vals), a space-separated list, one value per round
    vals[$1]="${vals[$1]:-}${vals[$1]:+ }$2"
}

# results

median() {
    # median of the arguments ("null" values skipped); "null" if none
    printf '%s\n' "$@" | { grep -v '^null$' || true; } | sort -g \
        | awk '{ v[NR] = $1 }
               END { if (NR == 0) { print "null"; exit }
                     if (NR % 2) m = v[(NR + 1) / 2]
                     else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
                     if (m == int(m)) printf "%d\n", m
                     else printf "%.1f\n", m }'
}

json_str() {
    local a=$1
    a=${a//\\/\\\\}
    a=${a//\"/\\\"}
    printf '"%s"' "$a"
}

json_strs() {
    # json_strs STRING...: the strings as JSON, comma-separated (the
    # inside of an array)
    local a first=1
    for a in "$@"; do
        [ "$first" = 1 ] || printf ','
        first=0
        json_str "$a"
    done
}

# shellcheck disable=SC2154    # top, out: the caller's
put_result() {
    # put_result JSON: the run's JSON line, appended to
    # build/bench/results.jsonl, in $out/result.json and on stdout
    echo "$1" | tee -a "$top/build/bench/results.jsonl" > "$out/result.json"
    echo "$1"
}

# processes and NGINX instances (echo-bench.sh, overload-bench.sh,
# fairness-bench.sh); they use $nginx_bin, $on_server_cpu (setup_host),
# $worker_connections and $so, and keep what they started in $masters
# and $jobs_running, which cleanup stops (trap cleanup EXIT)

# processes we started: NGINX masters and load jobs, each the leader of
# its own process group (setsid), so a whole group can be stopped

masters=()
jobs_running=()

stop_group() {
    # stop_group PID: TERM its group, KILL after 5 s
    local pid=$1 i

    kill -TERM -- "-$pid" 2>/dev/null || return 0
    for (( i = 0; i < 50; i++ )); do
        group_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
}

anomaly() {
    # anomaly WORDS...: one entry of the caller's $anomalies, the
    # arguments joined
    anomalies+=("$*")
}

job_done() {
    # job_done PID: a job that ended, no longer for cleanup to stop
    local keep=() j
    for j in ${jobs_running[@]+"${jobs_running[@]}"}; do
        [ "$j" = "$1" ] || keep+=("$j")
    done
    jobs_running=(${keep[@]+"${keep[@]}"})
}

group_alive() {
    # a member of process group PID that is not a zombie (the leader
    # stays a zombie until we reap it)
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 }
                                         END { exit !f }'
}

cleanup() {
    local p
    trap - EXIT INT TERM
    for p in ${jobs_running[@]+"${jobs_running[@]}"}; do
        stop_group "$p"
    done
    for p in ${masters[@]+"${masters[@]}"}; do
        stop_group "$p"
    done
}

# NGINX instances

# shellcheck disable=SC2154    # worker_connections: the caller's
write_echo_conf() {
    # write_echo_conf PREFIX WORKERS METRICS STATUS PORT...: the module's
    # echo (A, and B's backend; A and B with --metrics).  METRICS: on,
    # off or - (the directive left out: its default, on); STATUS 1 adds
    # location /status { ws_gateway_status; }; $echo_http_extra, if set,
    # is added to the http block as it is (directives, one a line)
    local prefix=$1 w=$2 metrics=$3 status=$4 p
    shift 4

    mkdir -p "$prefix/logs" "$prefix/tmp"
    {
        conf_common "$prefix" "$w" 1 "$worker_connections" warn
        [ "$metrics" = - ] || echo "    ws_gateway_metrics $metrics;"
        [ -z "${echo_http_extra:-}" ] || printf '%s\n' "$echo_http_extra"
        echo "    server {"
        for p in "$@"; do
            echo "        listen 127.0.0.1:$p backlog=4096$(listen_opts "$w");"
        done
        cat <<CONF
        location /echo {
            ws_gateway_pass builtin:echo;
        }
CONF
        [ "$status" = 1 ] && cat <<CONF
        location = /status {
            ws_gateway_status;
        }
CONF
        cat <<CONF
    }
}
CONF
    } > "$prefix/nginx.conf"
}

conf_ok() {
    # conf_ok PREFIX: nginx -t accepts PREFIX/nginx.conf
    "$nginx_bin" -t -q -p "$1" -c "$1/nginx.conf" -e "$1/logs/error.log" \
        >"$1/logs/nginx-t.log" 2>&1
}

# shellcheck disable=SC2154    # worker_connections: the caller's
write_proxy_conf() {
    # write_proxy_conf PREFIX WORKERS PORT BACKEND_PORT...: stock NGINX
    # (no module loaded), WebSocket proxying as documented by nginx.org
    local prefix=$1 w=$2 port=$3 p
    shift 3

    mkdir -p "$prefix/logs" "$prefix/tmp"
    {
        conf_common "$prefix" "$w" 0 "$worker_connections" warn
        echo "    upstream echo_backend {"
        for p in "$@"; do
            echo "        server 127.0.0.1:$p;"
        done
        cat <<CONF
    }

    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    server {
        listen 127.0.0.1:$port backlog=4096$(listen_opts "$w");

        location /echo {
            proxy_pass http://echo_backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
CONF
    } > "$prefix/nginx.conf"
}

# shellcheck disable=SC2154    # worker_connections: the caller's
write_relay_conf() {
    # write_relay_conf PREFIX WORKERS LINKS PORT BACKEND_PORT...: the
    # module relaying every session of /echo over links to the backends
    # of one upstream (ws_gateway_pass NAME; LINKS links per worker to
    # each backend), the relay path of the link protocol
    local prefix=$1 w=$2 links=$3 port=$4 p
    shift 4

    mkdir -p "$prefix/logs" "$prefix/tmp"
    {
        conf_common "$prefix" "$w" 1 "$worker_connections" warn
        echo "    upstream echo_links {"
        for p in "$@"; do
            echo "        server 127.0.0.1:$p;"
        done
        cat <<CONF
        ws_gateway_links $links;
    }

    server {
        listen 127.0.0.1:$port backlog=4096$(listen_opts "$w");

        location /echo {
            ws_gateway_pass echo_links;
        }
    }
}
CONF
    } > "$prefix/nginx.conf"
}

# shellcheck disable=SC2034,SC2154    # backend_pid: for the caller
start_backend() {
    # start_backend DIR PORT [c|python]: an echo backend of the link
    # protocol on 127.0.0.1:PORT, in its own session, pinned like NGINX:
    # build/backend/echo-backend (c, the default) or
    # scripts/backend/echo.py (python); sets $backend_pid once it says
    # it listens.  stop_nginx stops it like an NGINX master
    local dir=$1 port=$2 kind=${3:-c} pid i cmd

    case $kind in
    c)      cmd=("$top/build/backend/echo-backend")
            [ -x "${cmd[0]}" ] || make -s -C "$top/scripts/backend" >&2 \
                || die "cannot build echo-backend" ;;
    python) cmd=(python3 "$top/scripts/backend/echo.py") ;;
    *)      die "unknown backend \"$kind\"" ;;
    esac
    mkdir -p "$dir"
    setsid ${on_server_cpu[@]+"${on_server_cpu[@]}"} "${cmd[@]}" \
        "127.0.0.1:$port" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    pid=$!
    masters+=("$pid")

    for (( i = 0; i < 100; i++ )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/stderr.log" >&2
            die "the $kind backend ($dir) exited at start"
        fi
        if grep -q ': listening on' "$dir/stdout.log"; then
            backend_pid=$pid
            return
        fi
        sleep 0.05
    done
    die "the $kind backend ($dir) does not listen on $port"
}

links_up() {
    # links_up PORT N: waits (at most 10 s) until N connections to
    # 127.0.0.1:PORT are established (the links of every worker), or die
    local port=$1 n=$2 i have=0

    for (( i = 0; i < 200; i++ )); do
        have=$(ss -Htn state established "( dport = :$port )" \
               2>/dev/null | wc -l)
        [ "$have" -ge "$n" ] && return 0
        sleep 0.05
    done
    die "only $have of $n links to 127.0.0.1:$port are up"
}

# shellcheck disable=SC2034    # nginx_pid: for the caller
start_nginx() {
    # start_nginx PREFIX PORT: runs it in the foreground of its own
    # session, pinned; sets $nginx_pid (the master) once PORT accepts
    local prefix=$1 port=$2 pid i

    "$nginx_bin" -t -q -p "$prefix" -c "$prefix/nginx.conf" \
        -e "$prefix/logs/error.log" 2>"$prefix/logs/nginx-t.log" || {
        cat "$prefix/logs/nginx-t.log" >&2
        die "nginx -t failed for $prefix"
    }

    setsid ${on_server_cpu[@]+"${on_server_cpu[@]}"} "$nginx_bin" \
        -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
        -g 'daemon off;' >"$prefix/logs/stdout.log" 2>&1 &
    pid=$!
    masters+=("$pid")

    for (( i = 0; i < 100; i++ )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -5 "$prefix/logs/error.log" >&2
            die "nginx ($prefix) exited at start"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            nginx_pid=$pid
            return
        fi
        sleep 0.05
    done
    die "nginx ($prefix) does not listen on $port"
}

stop_nginx() {
    local pid=$1 keep=() m

    stop_group "$pid"
    wait "$pid" 2>/dev/null || true
    for m in ${masters[@]+"${masters[@]}"}; do
        [ "$m" = "$pid" ] || keep+=("$m")
    done
    masters=(${keep[@]+"${keep[@]}"})
}

workers_of() {
    # the worker pids of the given masters
    local m
    for m in "$@"; do
        ps -o pid= --ppid "$m" 2>/dev/null || true
    done | tr -s ' \n' ' '
}

cpu_ticks() {
    # utime + stime of the given pids, in clock ticks
    local p t=0 s
    for p in "$@"; do
        s=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
            "/proc/$p/stat" 2>/dev/null) || s=0
        t=$(( t + ${s:-0} ))
    done
    echo "$t"
}

# JSON fields: jparse FILE fills J[OBJECT.KEY] (J[KEY] at the top
# level) with the numbers of a one-line JSON object, in one awk

declare -A J=()

jparse() {
    local k v
    J=()
    while read -r k v; do
        J[$k]=$v
    done < <(head -n 1 "$1" 2>/dev/null | awk '{
        s = $0; d = 0
        while (s != "") {
            if (match(s, /^"[^"]*":\{/)) {
                st[++d] = substr(s, 2, RLENGTH - 4)
            } else if (match(s, /^"[^"]*":-?[0-9][0-9.eE+-]*/)) {
                kv = substr(s, 2, RLENGTH - 1)
                c = index(kv, "\":")
                p = ""
                for (i = 1; i <= d; i++) p = p st[i] "."
                print p substr(kv, 1, c - 1), substr(kv, c + 2)
            } else if (match(s, /^"([^"\\]|\\.)*"/)) {
                # a string (a key followed by a string, or an element)
            } else {
                if (substr(s, 1, 1) == "}" && d > 0) d--
                RLENGTH = 1
            }
            s = substr(s, RLENGTH + 1)
        }
    }')
}

jv() {
    # jv KEY: a field of the last jparse, "null" when absent
    echo "${J[$1]:-null}"
}

# shellcheck disable=SC2154    # watch_cpus, server_cpu, client_cpu: the caller's
cpu_window_start() {
    # cpu_window_start PID...: starts a CPU window over these server
    # processes (cpu_window_end reads it)
    cw_pids="$*"
    # the kernel thread that does deferred network work on the server
    # CPU: counted apart, not as "others"
    cw_softirq=
    if is_uint "$server_cpu"; then
        cw_softirq=$(ps -e -o pid=,comm= \
                     | awk -v n="ksoftirqd/$server_cpu" '$2 == n { print $1 }')
    fi
    # shellcheck disable=SC2086
    cw_k0=$(cpu_ticks $cw_softirq)
    # shellcheck disable=SC2086
    cw_t0=$(cpu_ticks $cw_pids)
    cw_w0=$EPOCHREALTIME
    cw_s0=0
    cw_c0=0
    if [ "$watch_cpus" = 1 ]; then
        cw_s0=$(cpu_busy "$server_cpu")
        cw_c0=$(cpu_busy "$client_cpu")
    fi
}

# shellcheck disable=SC2034    # the globals it sets are the caller's
cpu_window_end() {
    # sets, in % of one CPU over the window: $cw_servers (the server
    # processes), $cw_softirq_pct (ksoftirqd on the server CPU: network
    # work the kernel deferred), $cw_others (what other processes took
    # of the server CPU) and $cw_client (the client CPU busy, whoever
    # used it); null when not pinned to one CPU each
    local t1 s1 c1 w1 k1
    # shellcheck disable=SC2086
    k1=$(cpu_ticks $cw_softirq)
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $cw_pids)
    w1=$EPOCHREALTIME
    cw_servers=$(awk -v a="$cw_t0" -v b="$t1" -v w0="$cw_w0" -v w1="$w1" \
                 -v hz="$hz" 'BEGIN { printf "%.0f", (b - a) / hz / (w1 - w0) * 100 }')
    cw_softirq_pct=$(awk -v a="$cw_k0" -v b="$k1" -v w0="$cw_w0" \
                     -v w1="$w1" -v hz="$hz" \
                     'BEGIN { printf "%.0f", (b - a) / hz / (w1 - w0) * 100 }')
    cw_others=null
    cw_client=null
    if [ "$watch_cpus" = 1 ]; then
        s1=$(cpu_busy "$server_cpu")
        c1=$(cpu_busy "$client_cpu")
        cw_others=$(awk -v s="$((s1 - cw_s0))" \
                        -v t="$((t1 - cw_t0 + k1 - cw_k0))" \
                        -v w0="$cw_w0" -v w1="$w1" -v hz="$hz" 'BEGIN {
                        o = (s - t) / hz / (w1 - w0) * 100
                        printf "%.0f", o < 0 ? 0 : o }')
        cw_client=$(awk -v c="$((c1 - cw_c0))" -v w0="$cw_w0" -v w1="$w1" \
                        -v hz="$hz" 'BEGIN {
                        printf "%.0f", c / hz / (w1 - w0) * 100 }')
    fi
}

machine_busy_pct() {
    # the whole machine's busy share (user + nice + system, all CPUs)
    # over the next second, in %
    local a b
    a=$(awk '$1 == "cpu" { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 }' \
        /proc/stat)
    sleep 1
    b=$(awk '$1 == "cpu" { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 }' \
        /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        t = y[2] - x[2]; printf "%.0f", (t > 0 ? (y[1] - x[1]) / t * 100 : 0) }'
}

# shellcheck disable=SC2034    # quiet_note: for the caller
wait_quiet() {
    # wait_quiet MAX_SECONDS PCT: waits until the machine is less than
    # PCT% busy over a second (other processes: this machine may be
    # shared), at most MAX_SECONDS; sets $quiet_note ("" when it was
    # quiet, else what was seen)
    local max=$1 pct=$2 i b
    quiet_note=
    [ "$max" -gt 0 ] || return 0
    for (( i = 0; i < max; i++ )); do
        b=$(machine_busy_pct)
        [ "$b" -ge "$pct" ] || return 0
    done
    quiet_note="the machine was still ${b}% busy after ${max} s of waiting"
}
