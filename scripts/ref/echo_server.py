#!/usr/bin/env python3
"""A WebSocket echo server: the baseline and test target for ws-load.

Serves ws://HOST:PORT/ (any path) and sends every message back as it came:
text stays text, binary stays binary.  Prints "listening" on stdout once
the socket accepts connections.

Needs the python3-websockets package (Debian bookworm: websockets 10.4):

    apt-get install python3-websockets
    scripts/ref/echo_server.py --port 9001

Loopback only by default; --host may name another local address.
"""

import argparse
import asyncio
import os
import resource
import signal
import sys

try:
    import websockets
except ImportError:
    # A python3 from pyenv or a venv does not see Debian's dist-packages;
    # the system interpreter does.
    if sys.executable != "/usr/bin/python3" and os.path.exists(
            "/usr/bin/python3") and not os.environ.get("ECHO_SERVER_REEXEC"):
        os.environ["ECHO_SERVER_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("echo_server.py: the 'websockets' module is missing; "
             "install python3-websockets")


def raise_nofile():
    """Let the server hold as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def echo(ws, path=None):
    """Send every message back with its own type (str: text, bytes:
    binary).  A connection that goes away is not an error here."""
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve(args):
    stop = asyncio.get_running_loop().create_future()

    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))

    # ping_interval=None: no keepalive pings, so that idle sessions stay
    # idle; max_size=None: echo any message size ws-load may send.
    async with websockets.serve(echo, args.host, args.port,
                                ping_interval=args.ping_interval,
                                max_size=None, compression=None,
                                backlog=args.backlog):
        print("listening", flush=True)
        await stop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True,
                        help="port to listen on")
    parser.add_argument("--ping-interval", type=float, default=None,
                        help="send pings every SEC seconds (default: off)")
    parser.add_argument("--backlog", type=int, default=4096,
                        help="listen backlog (default 4096)")
    args = parser.parse_args()

    if not 0 < args.port < 65536:
        parser.error("--port must be 1..65535")

    raise_nofile()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
