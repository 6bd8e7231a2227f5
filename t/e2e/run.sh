#!/usr/bin/env bash
#
# End-to-end tests of ngx_ws_gateway_module with independent clients:
# Python `websockets` (Debian's python3-websockets) and Node `ws` (from
# package-lock.json, in node_modules/), over plain TCP and TLS.
#
# Starts its own NGINX (master process, 2 workers, error_log at info) in
# a temporary prefix, with a self-signed certificate made by `openssl` for
# the run, runs the clients, stops NGINX gracefully, and fails when the
# error log has [alert], [crit] or [emerg] lines or a worker died on a
# signal.  Closes with "e2e: N passed, M failed" (one count per check) and
# exits nonzero when a check failed.
#
# Environment:
#   E2E_PORT, E2E_TLS_PORT  listening ports (127.0.0.1); by default the
#                           first two free ports in 2200-2289
#   E2E_BACKEND_PORTS       the three link backends' ports (echo.py,
#                           close_backend.py, chat.py); by default the
#                           first three free ports in 2290-2299
#   E2E_MODULE              the .so to load (default: scripts/build.sh)
#   E2E_NGINX               nginx binary (default: /usr/sbin/nginx)
#   E2E_PYTHON              Python with websockets (default: /usr/bin/python3)
#   E2E_KEEP=1              keep the temporary prefix (kept anyway on failure)
#   E2E_ONLY=substring      run only the client checks whose name has it
#   E2E_CLIENTS="py node"   which clients to run

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/t/e2e

nginx_bin=${E2E_NGINX:-/usr/sbin/nginx}
python=${E2E_PYTHON:-/usr/bin/python3}
clients=${E2E_CLIENTS:-py node}
client_timeout=300       # per client run, a backstop: each check has its own

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS e2e $*"; }
fail() { failed=$((failed + 1)); echo "FAIL e2e $*"; }

finish() {
    trap - EXIT
    cleanup
    echo "e2e: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

cleanup() { :; }

# --- module, ports, prefix -------------------------------------------------

if [ -n "${E2E_MODULE:-}" ]; then
    module=$E2E_MODULE
else
    module=$("$top/scripts/build.sh" | tail -1) || {
        fail "module build (scripts/build.sh) failed"
        finish
    }
fi

if [ ! -f "$module" ]; then
    fail "module $module not found"
    finish
fi

port_free() {
    "$python" - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
# as nginx does: connections in TIME_WAIT do not keep a listener out
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

pick_ports() {
    # nginx's two ports: the first free in 2200-2289 (2290-2299 are the
    # backends')
    local p free=()
    for p in $(seq 2200 2289); do
        [ "$p" = "${E2E_PORT:-}" ] || [ "$p" = "${E2E_TLS_PORT:-}" ] \
            && continue
        port_free "$p" && free+=("$p")
        [ ${#free[@]} -eq 2 ] && break
    done
    [ ${#free[@]} -eq 2 ] || return 1
    port=${E2E_PORT:-${free[0]}}
    tls_port=${E2E_TLS_PORT:-${free[1]}}
}

if [ -n "${E2E_PORT:-}" ] && [ -n "${E2E_TLS_PORT:-}" ]; then
    port=$E2E_PORT
    tls_port=$E2E_TLS_PORT
elif ! pick_ports; then
    fail "no two free ports in 127.0.0.1:2200-2299"
    finish
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ws-gateway-e2e.XXXXXX") || {
    fail "mktemp failed"
    finish
}
nginx_pid=
holders=()
backends=()             # NAME:PID
stop_backends_now() {
    # each is a timeout(1) wrapper: SIGTERM, which it passes on to the
    # backend, then SIGKILL to both for what did not end
    local b pids=() _
    for b in "${backends[@]}"; do
        kill -0 "${b#*:}" 2>/dev/null || continue
        pids+=("${b#*:}" $(pgrep -P "${b#*:}"))
        kill -TERM "${b#*:}" 2>/dev/null
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for _ in $(seq 20); do
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    return 0
}

cleanup() {
    local h
    [ -n "$work" ] || return
    for h in "${holders[@]}"; do
        kill "${h#*:}" 2>/dev/null
    done
    declare -F stop_nginx_now >/dev/null && stop_nginx_now
    stop_backends_now
    if [ "$failed" -eq 0 ] && [ "${E2E_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "e2e: prefix kept in $work"
    fi
}
trap cleanup EXIT
trap 'fail "interrupted"; finish' INT TERM

echo "e2e: module $module"
echo "e2e: nginx $nginx_bin, ports $port (plain) $tls_port (TLS), prefix $work"

# --- certificate -----------------------------------------------------------

mkdir -p "$work/logs" "$work/conf"

if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
       -nodes -days 2 -subj "/CN=127.0.0.1" \
       -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
       -keyout "$work/conf/key.pem" -out "$work/conf/cert.pem" \
       >"$work/openssl.log" 2>&1
then
    pass "self-signed certificate generated"
    openssl rand -hex 32 | tr -d '\n' > "$work/conf/hs256.key"
else
    cat "$work/openssl.log"
    fail "openssl could not make a certificate"
    finish
fi

# the chat page's tokens (scripts/jwt.sh, as scripts/run.sh makes
# them): its users, the run's HMAC secret

json='{'
for u in alice bob; do
    t=$("$top/scripts/jwt.sh" "$work/conf/hs256.key" 600 "$u") || {
        fail "scripts/jwt.sh failed"
        finish
    }
    json+="\"$u\":\"$t\","
done
tokens="${json%,}}"

# --- backends --------------------------------------------------------------

# the link backends: scripts/backend/echo.py, t/e2e/close_backend.py
# (echo, and a record of every CLOSE event), scripts/backend/chat.py;
# each under a timeout, a backstop (run.sh stops them with SIGTERM)

close_log=$work/closes.jsonl

pick_backend_ports() {
    local p free=()
    if [ -n "${E2E_BACKEND_PORTS:-}" ]; then
        read -r -a free <<< "$E2E_BACKEND_PORTS"
    else
        for p in $(seq 2290 2299); do
            port_free "$p" && free+=("$p")
            [ ${#free[@]} -eq 3 ] && break
        done
    fi
    [ ${#free[@]} -eq 3 ] || return 1
    echo_port=${free[0]}
    closes_port=${free[1]}
    chat_port=${free[2]}
}

start_backend() {
    # start_backend NAME HOST:PORT SCRIPT ARGS...: runs SCRIPT HOST:PORT
    # ARGS...; 0 once it listens
    local name=$1 addr=$2 script=$3 _
    shift 3

    timeout -k 5 900 "$python" "$script" "$addr" "$@" >"$work/$name.out" \
        2>"$work/$name.err" &
    backends+=("$name:$!")

    for _ in $(seq 100); do
        grep -qx "gwlink: listening on $addr" "$work/$name.out" && return 0
        kill -0 "$!" 2>/dev/null || break
        sleep 0.05
    done
    cat "$work/$name.err" >&2
    return 1
}

backends_up=0
for _ in 1 2 3; do
    pick_backend_ports || break
    stop_backends_now
    backends=()
    start_backend echo-py "127.0.0.1:$echo_port" \
            "$top/scripts/backend/echo.py" \
        && start_backend closes "127.0.0.1:$closes_port" \
            "$here/close_backend.py" "$close_log" \
        && start_backend chat "127.0.0.1:$chat_port" \
            "$top/scripts/backend/chat.py" \
        && backends_up=1 && break
    [ -n "${E2E_BACKEND_PORTS:-}" ] && break
done

if [ "$backends_up" = 1 ]; then
    pass "backends started: echo.py on $echo_port," \
         "close_backend.py on $closes_port, chat.py on $chat_port"
else
    fail "the backends did not start (ports in 127.0.0.1:2290-2299)"
    finish
fi

# --- nginx -----------------------------------------------------------------

write_conf() {
cat > "$work/conf/nginx.conf" <<EOF
load_module $module;

daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 8192;
pid $work/logs/nginx.pid;
error_log $work/logs/error.log info;

events {
    worker_connections 4096;
}

http {
    access_log $work/logs/access.log;

    client_body_temp_path $work/client_body_temp;
    proxy_temp_path $work/proxy_temp;
    fastcgi_temp_path $work/fastcgi_temp;
    uwsgi_temp_path $work/uwsgi_temp;
    scgi_temp_path $work/scgi_temp;

    ssl_certificate $work/conf/cert.pem;
    ssl_certificate_key $work/conf/key.pem;

    types {
        text/html html;
        application/json json;
    }

    # the link backends: 4 links from each worker to echo.py, 2 (the
    # default) to the others
    upstream echo_py {
        server 127.0.0.1:$echo_port;
        ws_gateway_links 4;
    }

    upstream closes {
        server 127.0.0.1:$closes_port;
    }

    upstream chat {
        server 127.0.0.1:$chat_port;
    }

    server {
        listen 127.0.0.1:$port;
        listen 127.0.0.1:$tls_port ssl;

        location = /echo {
            ws_gateway_pass builtin:echo;
        }

        location = /proto {
            ws_gateway_pass builtin:echo;
            ws_gateway_subprotocols chat.v2 chat.v1;
        }

        location = /small {
            ws_gateway_pass builtin:echo;
            ws_gateway_max_frame_size 16k;
            ws_gateway_max_message_size 64k;
        }

        location = /tiny {
            ws_gateway_pass builtin:echo;
            ws_gateway_buffer_size 256;
            ws_gateway_outbound_limit 1k;
        }

        location = /idle {
            ws_gateway_pass builtin:echo;
            ws_gateway_idle_timeout 700ms;
            ws_gateway_ping_interval 0;
        }

        location = /ping {
            ws_gateway_pass builtin:echo;
            ws_gateway_ping_interval 300ms;
            ws_gateway_pong_timeout 500ms;
        }

        # token auth: an HMAC secret of the run; the TLS certificate's
        # EC P-256 key signs ES256 tokens, the certificate verifies them

        location = /auth-hs {
            ws_gateway_pass builtin:echo;
            ws_gateway_auth_jwt e2e;
            ws_gateway_auth_jwt_alg HS256;
            ws_gateway_auth_jwt_key_file $work/conf/hs256.key hmac;
        }

        location = /auth-es {
            ws_gateway_pass builtin:echo;
            ws_gateway_auth_jwt e2e token=\$arg_access_token;
            ws_gateway_auth_jwt_alg ES256;
            ws_gateway_auth_jwt_key_file $work/conf/cert.pem;
        }

        # a page for the browser check, and its WebSocket: the token
        # in a subprotocol entry, this page's origin only

        location = /page {
            default_type text/html;
            return 200 "<!DOCTYPE html><title>e2e</title>\n";
        }

        location = /auth-browser {
            ws_gateway_pass builtin:echo;
            ws_gateway_subprotocols chat.v1;
            ws_gateway_allow_origin http://127.0.0.1:$port;
            ws_gateway_auth_jwt e2e token=\$ws_gateway_protocol_token;
            ws_gateway_auth_jwt_protocol_prefix bearer.;
            ws_gateway_auth_jwt_alg HS256;
            ws_gateway_auth_jwt_key_file $work/conf/hs256.key hmac;
            ws_gateway_auth_jwt_session_expiry 4001 "token expired";
        }

        # over backend links

        location = /echo-py {
            ws_gateway_pass echo_py;
        }

        location = /closes {
            ws_gateway_pass closes;
        }

        # the demo's chat (scripts/run.sh): its page and tokens, and
        # /chat with the token's sub as the user name

        location = / {
            root $top/scripts/demo;
        }

        location = /index.html {
            root $top/scripts/demo;
        }

        location = /tokens.json {
            default_type application/json;
            return 200 '$tokens';
        }

        # the backend approves the handshake (chat.py refuses bad rooms)
        location = /chat-approve {
            ws_gateway_pass chat;
            ws_gateway_link_approve on;
            ws_gateway_link_param user \$arg_user;
        }

        location = /chat {
            ws_gateway_pass chat;
            ws_gateway_subprotocols chat.v1;
            ws_gateway_auth_jwt demo token=\$ws_gateway_protocol_token;
            ws_gateway_auth_jwt_protocol_prefix bearer.;
            ws_gateway_auth_jwt_alg HS256;
            ws_gateway_auth_jwt_key_file $work/conf/hs256.key hmac;
            ws_gateway_auth_jwt_claim exp;
            ws_gateway_auth_jwt_session_expiry on;
            ws_gateway_link_param user \$ws_gateway_jwt_claim_sub;
        }

        location = /auth-proto {
            ws_gateway_pass builtin:echo;
            ws_gateway_subprotocols chat.v1;
            ws_gateway_auth_jwt e2e token=\$ws_gateway_protocol_token;
            ws_gateway_auth_jwt_protocol_prefix bearer.;
            ws_gateway_auth_jwt_alg HS256 ES256;
            ws_gateway_auth_jwt_key_file $work/conf/hs256.key hmac;
            ws_gateway_auth_jwt_key_file $work/conf/cert.pem;
            ws_gateway_auth_jwt_session_expiry 4001 "token expired";
        }
    }
}
EOF

}

start_nginx() {
    # starts nginx in the foreground of a background job; 0 when both
    # listeners are up, 2 when a port was taken meanwhile
    local _

    write_conf
    : > "$work/logs/error.log"

    "$nginx_bin" -p "$work" -c "$work/conf/nginx.conf" \
        -e "$work/logs/error.log" >"$work/logs/stderr.log" 2>&1 &
    nginx_pid=$!

    for _ in $(seq 100); do
        if grep -q 'Address already in use' "$work/logs/error.log"; then
            stop_nginx_now
            return 2
        fi
        kill -0 "$nginx_pid" 2>/dev/null || return 1
        # logged once every listening socket is bound
        grep -q 'start worker processes' "$work/logs/error.log" && return 0
        sleep 0.1
    done
    return 1
}

stop_nginx_now() {
    # the master and its workers, for a nginx that must not linger
    local workers

    [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null || return 0
    workers=$(pgrep -P "$nginx_pid")
    kill -TERM "$nginx_pid" 2>/dev/null
    for _ in $(seq 30); do
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL "$nginx_pid" $workers 2>/dev/null
    wait "$nginx_pid" 2>/dev/null
}

for _ in 1 2 3; do
    start_nginx
    rc=$?
    [ "$rc" = 2 ] && [ -z "${E2E_PORT:-}${E2E_TLS_PORT:-}" ] && pick_ports \
        && echo "e2e: a port was taken, now $port $tls_port" && continue
    break
done

if [ "$rc" = 0 ]; then
    pass "nginx started (pid $nginx_pid, 2 workers)"
else
    cat "$work/logs/stderr.log" "$work/logs/error.log" 2>/dev/null | tail -20
    fail "nginx did not start"
    finish
fi

links_to() {
    # links_to PORT: established connections to 127.0.0.1:PORT
    ss -Htn state established "( dst 127.0.0.1 and dport = :$1 )" \
        | wc -l
}

# every worker opens its links when it starts
for _ in $(seq 100); do
    [ "$(links_to "$echo_port")" = 8 ] \
        && [ "$(links_to "$closes_port")" = 4 ] \
        && [ "$(links_to "$chat_port")" = 4 ] && break
    sleep 0.1
done
n=$(links_to "$echo_port")
if [ "$n" = 8 ] && [ "$(links_to "$closes_port")" = 4 ] \
   && [ "$(links_to "$chat_port")" = 4 ]
then
    pass "links up: 8 to echo.py (2 workers x ws_gateway_links 4)," \
         "4 to close_backend.py, 4 to chat.py"
else
    fail "links: $n to echo.py (want 8), $(links_to "$closes_port")" \
         "to close_backend.py, $(links_to "$chat_port") to chat.py (want 4)"
fi

# --- clients ---------------------------------------------------------------

count_client() {
    # count_client NAME STATUS: counts the PASS/FAIL lines of a client run
    local name=$1 rc=$2 out=$work/$1.out p f

    grep -E '^(PASS|FAIL) ' "$out"

    p=$(grep -c '^PASS ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    passed=$((passed + p))
    failed=$((failed + f))

    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        grep -vE '^(PASS|FAIL) ' "$out" | tail -20
        fail "$name exited with status $rc without a failed check"
    elif [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ -z "${E2E_ONLY:-}" ]; then
        fail "$name ran no check"
    elif [ "$rc" -ne 0 ]; then
        grep -vE '^(PASS|FAIL|#|READY)' "$out" | tail -20
    fi
}

run_client() {
    # run_client NAME COMMAND...: runs one client to its end
    local name=$1 rc
    shift

    timeout -k 5 "$client_timeout" "$@" >"$work/$name.out" 2>&1
    rc=$?
    count_client "$name" "$rc"
}

start_holder() {
    # start_holder NAME COMMAND...: a client that holds a session open
    # until nginx shuts down, in the background
    local name=$1
    shift

    timeout -k 5 60 "$@" >"$work/$name.out" 2>&1 &
    holders+=("$name:$!")
}

client_cmd() {
    # client_cmd KIND TRANSPORT: sets cmd to the client's command line
    local base

    if [ "$2" = plain ]; then
        base=ws://127.0.0.1:$port
    else
        base=wss://127.0.0.1:$tls_port
    fi

    if [ "$1" = py ]; then
        cmd=("$python" "$here/py_client.py")
    else
        cmd=(env NODE_PATH="$top/node_modules" node "$here/node_client.js")
    fi

    cmd=(env E2E_HS_KEY_FILE="$work/conf/hs256.key"
         E2E_EC_KEY_FILE="$work/conf/key.pem" E2E_CLOSE_LOG="$close_log"
         "${cmd[@]}")
    cmd+=(--base "$base" --cafile "$work/conf/cert.pem" --label "$2")
}

only=()
[ -n "${E2E_ONLY:-}" ] && only=(--only "$E2E_ONLY")

have_ws=0
if [[ " $clients " == *" node "* ]]; then
    if [ ! -f "$top/node_modules/ws/package.json" ]; then
        echo "e2e: node_modules/ws missing, running npm ci"
        (cd "$top" && npm ci --no-audit --no-fund --loglevel=error) \
            >"$work/npm.log" 2>&1 || cat "$work/npm.log"
    fi
    if [ -f "$top/node_modules/ws/package.json" ]; then
        have_ws=1
    else
        fail "node ws package not installed (npm ci)"
    fi
fi

kinds=()
[[ " $clients " == *" py "* ]] && kinds+=(py)
[ "$have_ws" = 1 ] && kinds+=(node)

for transport in plain tls; do
    for kind in "${kinds[@]}"; do
        client_cmd "$kind" "$transport"
        run_client "$kind-$transport" "${cmd[@]}" "${only[@]}"
    done
done

# token auth from headless Chromium (plain only: no certificate to trust)
if [ "$have_ws" = 1 ] && [ -x "${CHROMIUM:-/usr/bin/chromium}" ] \
   && [ -f "$top/t/metrics/node_modules/playwright-core/package.json" ]
then
    run_client browser env E2E_HS_KEY_FILE="$work/conf/hs256.key" \
        E2E_CLOSE_LOG="$close_log" \
        node "$here/browser.js" --base "http://127.0.0.1:$port" \
        --label browser "${only[@]}"
elif [ "${CI:-}" = true ]; then
    fail "browser check: chromium or playwright-core (t/metrics) missing"
else
    echo "e2e: browser check not run: no chromium or playwright-core" \
         "(scripts/deps.sh installs them)"
fi

# --- issue 11: channels, failover, backpressure (t/e2e/channels.py) --------

# its own NGINX (2 workers) and six ch_backend.py backends, on 7 ports:
# E2E_CH_PORTS, or the first free in 2230-2289
ch_ports=${E2E_CH_PORTS:-}
if [ -z "$ch_ports" ]; then
    ch_free=()
    for p in $(seq 2230 2289); do
        [ "$p" = "$port" ] || [ "$p" = "$tls_port" ] && continue
        port_free "$p" && ch_free+=("$p")
        [ ${#ch_free[@]} -eq 7 ] && break
    done
    ch_ports="${ch_free[*]}"
fi
ch_only=()
[ -n "${E2E_ONLY:-}" ] && ch_only=(--only "$E2E_ONLY")
if [ "$(wc -w <<< "$ch_ports")" -ne 7 ]; then
    fail "channels: no 7 free ports in 127.0.0.1:2230-2289"
else
    client_timeout=600 run_client channels "$python" "$here/channels.py" \
        --nginx "$nginx_bin" --module "$module" --ports "$ch_ports" \
        --work "$work/channels" "${ch_only[@]}"
    # its figures: fan-out time, the kill's counts, RSS under a stalled
    # backend, drops
    grep '^# ' "$work/channels.out"
fi

# sessions open while nginx shuts down gracefully get Close 1001
if [ -z "${E2E_ONLY:-}" ] \
   || [[ "close 1001 on graceful shutdown" == *"$E2E_ONLY"* ]]
then
    for transport in plain tls; do
        for kind in "${kinds[@]}"; do
            client_cmd "$kind" "$transport"
            start_holder "$kind-$transport-shutdown" "${cmd[@]}" --shutdown
        done
    done

    for _ in $(seq 100); do
        ready=0
        for h in "${holders[@]}"; do
            grep -qx READY "$work/${h%%:*}.out" 2>/dev/null \
                && ready=$((ready + 1))
        done
        [ "$ready" -eq ${#holders[@]} ] && break
        sleep 0.1
    done
fi

# the sessions to echo.py went over several links: what each link to it
# has sent (the kernel's bytes_sent; heartbeats alone are a few hundred
# bytes)
if [ -z "${E2E_ONLY:-}" ]; then
    sent=$(ss -Htin state established \
               "( dst 127.0.0.1 and dport = :$echo_port )" \
           | grep -o 'bytes_sent:[0-9]*' | cut -d: -f2 | sort -n | tr '\n' ' ')
    busy=0
    for b in $sent; do
        [ "$b" -gt 16384 ] && busy=$((busy + 1))
    done
    if [ "$busy" -ge 4 ]; then
        pass "sessions spread over links: $busy of the links to echo.py" \
             "carried over 16 KB (bytes sent per link: $sent)"
    else
        fail "sessions over few links: $busy links to echo.py carried over" \
             "16 KB, want 4 or more (bytes sent per link: $sent)"
    fi
fi

# --- stop, logs ------------------------------------------------------------

if ! kill -0 "$nginx_pid" 2>/dev/null; then
    fail "nginx master died during the tests"
else
    kill -QUIT "$nginx_pid"
    stopped=0
    for _ in $(seq 100); do
        if ! kill -0 "$nginx_pid" 2>/dev/null; then
            stopped=1
            break
        fi
        sleep 0.1
    done
    if [ "$stopped" = 1 ]; then
        wait "$nginx_pid" 2>/dev/null
        pass "nginx stopped gracefully (SIGQUIT)"
    else
        fail "nginx still running 10s after SIGQUIT"
    fi
fi

for h in "${holders[@]}"; do
    wait "${h#*:}"
    count_client "${h%%:*}" $?
done

# the backends: SIGTERM, then they must end, cleanly, and must have
# logged no traceback and no bad record from the gateway
for b in "${backends[@]}"; do
    kill -TERM "${b#*:}" 2>/dev/null
done
for b in "${backends[@]}"; do
    name=${b%%:*}
    for _ in $(seq 50); do
        kill -0 "${b#*:}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${b#*:}" 2>/dev/null; then
        fail "backend $name still running 5s after SIGTERM"
        continue
    fi
    wait "${b#*:}"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -5 "$work/$name.err"
        fail "backend $name exited with status $rc"
    elif grep -E 'Traceback|raised|bad record' "$work/$name.err" >/dev/null
    then
        grep -E -A10 'Traceback|raised|bad record' "$work/$name.err" \
            | head -20
        fail "backend $name logged an error ($work/$name.err)"
    else
        pass "backend $name stopped cleanly, logged no error"
    fi
done

log=$work/logs/error.log

if grep -E '\[(alert|crit|emerg)\]' "$log" >"$work/bad.log"; then
    head -20 "$work/bad.log"
    fail "error log has $(wc -l <"$work/bad.log") [alert]/[crit]/[emerg] lines"
else
    pass "error log has no [alert], [crit] or [emerg]"
fi

if grep -E 'exited on signal' "$log" >"$work/signal.log"; then
    head -5 "$work/signal.log"
    fail "a worker exited on a signal"
else
    pass "no worker exited on a signal"
fi

# with a sanitizer build, its reports land in the error log
if grep -E -A20 'runtime error|Sanitizer' "$log" >"$work/san.log"; then
    head -30 "$work/san.log"
    fail "sanitizer reports in the error log"
else
    pass "no sanitizer report in the error log"
fi

finish
