#!/usr/bin/env bash
#
# Memory and fairness under abuse (t/flood/flood_test.py): clients that
# send and never read, ping floods, tiny-frame floods, many slow readers
# against the worker's outbound budget, unfinished messages against it,
# hundreds of bulk senders (ws-load) against the loop's fairness; the
# workers' memory is measured from outside (RssAnon) during the floods
# and after the sessions close.
# Also runs one test under "events { use poll; }" with an NGINX built
# with the poll module (POLL=1 scripts/build.sh).
#
# Starts its own NGINX instances (master process on) under
# build/flood-test/, on 127.0.0.1:FLOOD_PORT (default 2600), one at a
# time, and stops them on exit.  Closes with "flood: N passed, M failed";
# exits nonzero when a check failed.  About a minute.
#
# Environment:
#   FLOOD_PORT=2600        the port
#   FLOOD_ONLY=substring   run only the tests whose name has it
#   FLOOD_NO_BUILD=1       use the builds as they are

set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/flood-test
python=${FLOOD_PYTHON:-/usr/bin/python3}

mkdir -p "$out"

if [ "${FLOOD_NO_BUILD:-0}" = 1 ]; then
    module=$top/build/debian/objs/ngx_ws_gateway_module.so
    poll_nginx=$top/build/nginx-1.22.1-poll/objs/nginx
    poll_module=$top/build/nginx-1.22.1-poll/objs/ngx_ws_gateway_module.so
else
    module=$("$top/scripts/build.sh" | tail -1) || {
        echo "flood: module build failed"; echo "flood: 0 passed, 1 failed"
        exit 1
    }
    poll=$(POLL=1 "$top/scripts/build.sh") || {
        echo "flood: poll build failed"; echo "flood: 0 passed, 1 failed"
        exit 1
    }
    poll_nginx=$(echo "$poll" | head -1)
    poll_module=$(echo "$poll" | tail -1)
fi

make -s -C "$top/scripts/loadgen" >&2 || {
    echo "flood: ws-load build failed"; echo "flood: 0 passed, 1 failed"
    exit 1
}

"$python" "$top/t/flood/flood_test.py" --module "$module" \
    --loadgen "$top/build/loadgen/ws-load" \
    --poll-nginx "$poll_nginx" --poll-module "$poll_module" --out "$out" --port "${FLOOD_PORT:-2600}" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 130' INT TERM
wait $pid
rc=$?

# a graceful shutdown with a handshake waiting for its backend's verdict
APPROVAL_PORT=$(( ${FLOOD_PORT:-2600} + 90 )) \
    "$python" "$top/t/flood/approval_shutdown.py" "$module" || rc=1

# reloads that change the worker count (2, 4, 64, 1) with backend links
LINK_RELOAD_PORT=$(( ${FLOOD_PORT:-2600} + 92 )) \
    "$python" "$top/t/flood/link_reload.py" "$module" || rc=1

exit $rc
