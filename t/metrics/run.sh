#!/usr/bin/env bash
#
# Metrics truthfulness tests of ngx_ws_gateway_module: the tests make the
# ground truth (sessions per worker, connect and close rates, a stall of
# known length, drops, handshake results) and check what ws_gateway_status
# reports against it; the Prometheus text goes through `promtool check
# metrics`, and the HTML dashboard is opened in headless Chromium.
#
# Builds the module (scripts/build.sh), the test-only module with the
# stall hook (TEST_HOOKS=1 scripts/build.sh) and the load generator;
# installs what is missing (Debian's prometheus and chromium through
# scripts/deps.sh, playwright-core into t/metrics/node_modules with npm
# ci).  Starts its own NGINX instances (master process on, error_log at
# info) under build/metrics-test/, on 127.0.0.1 ports METRICS_PORT+1 to
# +18 and +40 to +49 (default 2500; links also runs scripts/backend/echo.py
# on +41), stops them on exit.  The dashboard screenshot is
# build/metrics-test/dashboard.png.
#
# Closes with "metrics: N passed, M failed" and exits nonzero when a
# check failed.  About 2 minutes.
#
# Environment:
#   METRICS_PORT=2500        base port
#   METRICS_ONLY=substring   run only the tests whose name has it
#                            (sessions, rates, stall, drops, prometheus,
#                            dashboard, workers, reload, single, liveness,
#                            seqlock, iterations, timestamps, stampcount,
#                            passes, grow, slotbound, lateworkers, links;
#                            prometheus needs drops)
#   METRICS_BREAK=substring  give the checks whose name has it a wrong
#                            expectation, to see them fail
#   METRICS_NO_BUILD=1       use the .so files and ws-load as they are

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/t/metrics
out=$top/build/metrics-test
python=${METRICS_PYTHON:-/usr/bin/python3}
port=${METRICS_PORT:-2500}

die() {
    echo "metrics: $*" >&2
    echo "metrics: 0 passed, 1 failed"
    exit 1
}

mkdir -p "$out"

# --- stop our own nginx instances, and only them ----------------------------------

cleanup() {
    local pidfile pid
    for pidfile in "$out"/*/nginx.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null) || continue
        [ -n "$pid" ] || continue
        # a master started from our prefix, not someone else's nginx
        if tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" \
            | grep -q -- "-p $out/"; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
}

pypid=
trap cleanup EXIT
trap '[ -z "$pypid" ] || kill -TERM "$pypid" 2>/dev/null; wait; cleanup; exit 130' \
    INT TERM

cleanup     # leftovers of an interrupted run

# --- dependencies ---------------------------------------------------------------

if ! command -v promtool >/dev/null || [ ! -x /usr/bin/chromium ]; then
    # the prometheus package may start a server: stop the one it started
    before=$(pgrep -x prometheus | sort)
    "$top/scripts/deps.sh" >&2 || die "scripts/deps.sh failed"
    for pid in $(pgrep -x prometheus | sort); do
        if ! grep -qx "$pid" <<< "$before"; then
            echo "metrics: stopping the prometheus server (pid $pid) that" \
                 "the package started" >&2
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

command -v promtool >/dev/null || die "promtool not found (Debian: prometheus)"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium not found (Debian: chromium)"
[ -x "$python" ] || die "$python not found"
command -v node >/dev/null || die "node not found"

if [ ! -f "$here/node_modules/.package-lock.json" ] \
   || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]
then
    echo "metrics: installing playwright-core into t/metrics/node_modules" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2) \
        || die "npm ci in t/metrics failed"
fi

# --- builds ---------------------------------------------------------------------

if [ "${METRICS_NO_BUILD:-0}" = 1 ]; then
    module=$top/build/debian/objs/ngx_ws_gateway_module.so
    test_module=$top/build/debian-test/objs/ngx_ws_gateway_module.so
else
    module=$("$top/scripts/build.sh" | tail -1) \
        || die "module build (scripts/build.sh) failed"
    test_module=$(TEST_HOOKS=1 "$top/scripts/build.sh" | tail -1) \
        || die "test module build (TEST_HOOKS=1 scripts/build.sh) failed"
    make -s -C "$top/scripts/loadgen" >&2 || die "ws-load build failed"
fi

loadgen=$top/build/loadgen/ws-load

for f in "$module" "$test_module" "$loadgen"; do
    [ -e "$f" ] || die "$f not found"
done

# --- the tests ------------------------------------------------------------------

# in the background, so that a signal to this script reaches it too
"$python" "$here/metrics_test.py" \
    --module "$module" --test-module "$test_module" --loadgen "$loadgen" \
    --out "$out" --here "$here" --port "$port" \
    --promtool "$(command -v promtool)" --node "$(command -v node)" &
pypid=$!
wait "$pypid"
rc=$?
pypid=
exit "$rc"
