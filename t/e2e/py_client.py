#!/usr/bin/python3
"""End-to-end checks of ngx_ws_gateway_module with Python `websockets`.

Run by t/e2e/run.sh (Debian's python3-websockets 10.4, /usr/bin/python3):

    /usr/bin/python3 t/e2e/py_client.py --base ws://127.0.0.1:2200 \
        --label plain
    /usr/bin/python3 t/e2e/py_client.py --base wss://127.0.0.1:2201 \
        --cafile cert.pem --label tls

Prints one line per check, "PASS <label> <name>" or
"FAIL <label> <name>: <why>", and exits 1 when a check failed.
Every check runs under a timeout, so nothing hangs.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import ssl
import sys
import time

import websockets
from websockets.frames import Close, Opcode
from websockets.legacy.client import WebSocketClientProtocol

CHECK_TIMEOUT = 15

args = None
ssl_ctx = None
results = {"pass": 0, "fail": 0}


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def short(v, n=60):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "...(%d)" % len(v)


class RecordingProtocol(WebSocketClientProtocol):
    """Remembers the control frames it receives (pings, pongs), when the
    server's Close frame came and when the connection ended."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.control_frames = []
        self.close_frame = asyncio.Event()
        self.close_frame_at = None
        self.lost_at = None

    async def read_frame(self, max_size):
        frame = await super().read_frame(max_size)
        if frame.opcode in (Opcode.PING, Opcode.PONG):
            self.control_frames.append((frame.opcode, frame.data))
        elif frame.opcode == Opcode.CLOSE:
            self.close_frame_at = time.monotonic()
            self.close_frame.set()
        return frame

    def connection_lost(self, exc):
        self.lost_at = time.monotonic()
        super().connection_lost(exc)


def connect(path="/echo", **kw):
    opts = dict(
        ssl=ssl_ctx,
        open_timeout=5,
        close_timeout=5,
        ping_interval=None,   # our own pings only
        max_size=2 ** 24,
        max_queue=None,
        create_protocol=RecordingProtocol,
    )
    opts.update(kw)
    return websockets.connect(args.base + path, **opts)


async def recv(ws, timeout=5):
    return await asyncio.wait_for(ws.recv(), timeout)


async def echo_one(ws, msg):
    await ws.send(msg)
    got = await recv(ws)
    expect(type(got) is type(msg),
           "sent %s, got %s back" % (type(msg).__name__, type(got).__name__))
    expect(got == msg, "sent %s, got %s" % (short(msg), short(got)))


async def expect_server_close(ws, code, timeout=5, wait_end=False):
    """Waits for the server's Close frame and checks its code.  Then, with
    wait_end, waits for the connection to end (the server closing it after
    the closing handshake); else the client ends it right away."""
    try:
        await asyncio.wait_for(ws.close_frame.wait(), timeout)
    except asyncio.TimeoutError:
        raise CheckFailed("no Close frame from the server in %ds" % timeout)
    expect(ws.close_rcvd is not None and ws.close_rcvd.code == code,
           "expected close code %s from the server, got %s"
           % (code, ws.close_rcvd))
    if wait_end:
        await asyncio.wait_for(ws.wait_closed(), timeout)
    else:
        # the library has answered the Close (it does so before setting
        # the event's waiters running); close the TCP connection ourselves
        await asyncio.sleep(0)
        ws.transport.close()
        await asyncio.wait_for(ws.wait_closed(), timeout)


# --- checks -----------------------------------------------------------------

async def check_text():
    async with connect() as ws:
        await echo_one(ws, "hello, gateway")


async def check_binary():
    async with connect() as ws:
        await echo_one(ws, bytes(range(256)) * 4)


async def check_empty_text():
    async with connect() as ws:
        await echo_one(ws, "")


async def check_empty_binary():
    async with connect() as ws:
        await echo_one(ws, b"")


async def check_large(size, text=False, path="/echo"):
    async with connect(path) as ws:
        if text:
            msg = ("large text é " * (size // 14 + 1))[:size]
        else:
            msg = os.urandom(size)
        await echo_one(ws, msg)


async def check_utf8():
    msg = "ascii é ß ñ € 日本語 ∑ 🎉😀🚀 \U0010FFFF end"
    expect(any(len(c.encode()) == 4 for c in msg), "test text lacks 4-byte")
    async with connect() as ws:
        await echo_one(ws, msg)
        await echo_one(ws, "😀" * 5000)


async def check_fragmented_text():
    parts = ["frag-", "ment", "é", "🎉", "", "ed text"]
    async with connect() as ws:
        await ws.send(parts)
        got = await recv(ws)
        expect(got == "".join(parts), "got %s" % short(got))


async def check_fragmented_binary():
    parts = [os.urandom(n) for n in (1, 1000, 0, 70000, 125, 126, 65536)]
    async with connect() as ws:
        await ws.send(parts)
        got = await recv(ws)
        expect(isinstance(got, bytes), "binary came back as text")
        expect(got == b"".join(parts), "fragments reassembled wrongly")


async def check_fragmented_with_ping():
    async with connect() as ws:
        waiters = []

        async def fragments():
            for i in range(4):
                yield "part%d;" % i
                waiters.append(await ws.ping(b"mid-%d" % i))

        await ws.send(fragments())
        got = await recv(ws)
        expect(got == "part0;part1;part2;part3;", "got %s" % short(got))
        await asyncio.wait_for(asyncio.gather(*waiters), 5)


async def check_ping(payload):
    async with connect() as ws:
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, 5)
        pongs = [d for (op, d) in ws.control_frames if op == Opcode.PONG]
        expect(pongs == [payload], "pongs received: %r" % pongs)
        await echo_one(ws, "after ping")


async def check_subprotocol(offer, want):
    async with connect("/proto", subprotocols=offer) as ws:
        expect(ws.subprotocol == want,
               "offered %r: got %r, want %r" % (offer, ws.subprotocol, want))
        await echo_one(ws, "with subprotocol")


async def check_close(code, reason):
    async with connect() as ws:
        await echo_one(ws, "before close")
        await ws.close(code, reason)
        expect(ws.close_code == code,
               "sent close %d, server answered %s %r"
               % (code, ws.close_code, ws.close_reason))


async def check_close_empty():
    async with connect() as ws:
        # a Close frame with no payload: the server answers with none
        await ws.write_close_frame(Close(1005, ""), b"")
        await asyncio.wait_for(ws.wait_closed(), 5)
        expect(ws.close_rcvd is not None, "no close frame from the server")
        expect(ws.close_code == 1005,
               "expected an empty close back, got %s" % ws.close_code)


async def check_invalid_utf8():
    async with connect() as ws:
        await ws.write_frame(True, Opcode.TEXT, b"ok \xc3\x28 bad")
        await expect_server_close(ws, 1007)


async def check_unmasked_frame():
    async with connect() as ws:
        await echo_one(ws, "ok")
        ws.transport.write(b"\x81\x05hello")   # FIN, text, no mask bit
        await expect_server_close(ws, 1002)


async def check_pipelined_bad_frame():
    # an invalid frame in the handshake's own packet (and TLS record):
    # the 101, then Close 1002, then the end of the connection (after a
    # close_notify over TLS), promptly
    host, port = args.base.split("://")[1].split("/")[0].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(
        host, int(port), ssl=ssl_ctx,
        server_hostname=host if ssl_ctx else None)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(("GET /echo HTTP/1.1\r\nHost: localhost\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13"
                  "\r\n\r\n" % key).encode() + b"\x81\x05hello")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    expect(head.startswith(b"HTTP/1.1 101"), "got %s" % short(head))
    t0 = time.monotonic()
    close = await asyncio.wait_for(reader.readexactly(4), 5)
    expect(close == b"\x88\x02\x03\xea", "close frame %s" % short(close))
    rest = await asyncio.wait_for(reader.read(), 3)
    took = time.monotonic() - t0
    expect(rest == b"", "after the close frame: %s" % short(rest))
    expect(took < 1.0, "the connection ended %.2fs after the close" % took)
    writer.close()


async def check_frame_too_big():
    async with connect("/small") as ws:
        await echo_one(ws, b"x" * 1000)
        await ws.send(os.urandom(20 * 1024))    # max_frame_size 16k
        await expect_server_close(ws, 1009)


async def check_message_too_big():
    async with connect("/small") as ws:
        # five 15k fragments: each frame fits, the message (64k) does not
        await ws.send([os.urandom(15 * 1024) for _ in range(5)])
        await expect_server_close(ws, 1009)


async def check_violation_close_ends_connection():
    # RFC 6455 7.1.1: the server should close the TCP connection first,
    # once the closing handshake is done.  The library waits up to its
    # close_timeout (here 3s) for it before giving up.
    async with connect(close_timeout=3) as ws:
        await ws.write_frame(True, Opcode.TEXT, b"\xff")
        await expect_server_close(ws, 1007, wait_end=True)
        took = ws.lost_at - ws.close_frame_at
        expect(took < 1.0,
               "the closing handshake after Close 1007 was done, but the "
               "server did not end the connection: the client gave up "
               "after %.2fs" % took)


async def check_default_limit():
    async with connect() as ws:
        await ws.send(b"z" * (1024 * 1024 + 1))  # default max 1m
        await expect_server_close(ws, 1009)


async def check_idle_timeout():
    async with connect("/idle") as ws:
        await echo_one(ws, "keep")
        t0 = time.monotonic()
        await expect_server_close(ws, 1000, wait_end=True)
        took = time.monotonic() - t0
        expect(ws.close_reason == "idle timeout",
               "reason %r" % ws.close_reason)
        expect(0.4 < took < 3, "closed after %.2fs" % took)


async def check_server_ping():
    async with connect("/ping") as ws:
        await asyncio.sleep(1.2)      # ping_interval 300ms, pong 500ms
        pings = [d for (op, d) in ws.control_frames if op == Opcode.PING]
        expect(len(pings) >= 2, "server sent %d pings in 1.2s" % len(pings))
        await echo_one(ws, "still open")


async def check_concurrent(n=200, rounds=3):
    async def one(i):
        async with connect() as ws:
            for r in range(rounds):
                msg = "conn %d round %d" % (i, r)
                await echo_one(ws, msg if r % 2 == 0 else msg.encode())

    res = await asyncio.gather(*(one(i) for i in range(n)),
                               return_exceptions=True)
    bad = [r for r in res if isinstance(r, BaseException)]
    expect(not bad, "%d of %d connections failed, first: %r"
           % (len(bad), n, bad[:1]))


async def check_pipelined(n=1000, path="/echo", size=0):
    async with connect(path) as ws:
        msgs = ["msg %d %s" % (i, "p" * size) for i in range(n)]

        async def sender():
            for m in msgs:
                await ws.send(m)   # never waits for an answer

        task = asyncio.ensure_future(sender())
        got = []
        while len(got) < n:
            got.append(await recv(ws, 10))
        await task
        for i, (a, b) in enumerate(zip(msgs, got)):
            expect(a == b, "message %d: sent %s, got %s"
                   % (i, short(a), short(b)))


def hs256_token(claims, secret=None):
    """A JWT made here with the standard library, for the key file the
    run wrote (E2E_HS_KEY_FILE)."""
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    if secret is None:
        with open(os.environ["E2E_HS_KEY_FILE"], "rb") as f:
            secret = f.read()
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    sig = hmac.new(secret, (head + "." + body).encode(),
                   hashlib.sha256).digest()
    return head + "." + body + "." + b64u(sig)


async def check_auth_header():
    tok = hs256_token({"sub": "py", "exp": int(time.time()) + 600})
    async with connect("/auth-hs",
                       extra_headers={"Authorization": "Bearer " + tok}) as ws:
        await echo_one(ws, "authorized")


async def check_auth_refused(tok, error):
    headers = {"Authorization": "Bearer " + tok} if tok else {}
    try:
        async with connect("/auth-hs", extra_headers=headers):
            pass
    except websockets.InvalidStatusCode as e:
        expect(e.status_code == 401, "status %d, want 401" % e.status_code)
        www = e.headers.get("WWW-Authenticate", "") if hasattr(
            e, "headers") else None
        if www is not None:
            expect(www.startswith('Bearer realm="e2e"'),
                   "WWW-Authenticate: %r" % www)
            expect(('error="invalid_token"' in www) == bool(error),
                   "WWW-Authenticate: %r" % www)
            if error:
                expect('error_description="%s"' % error in www,
                       "WWW-Authenticate: %r" % www)
        return
    raise CheckFailed("the handshake was accepted")


async def check_auth_protocol_expiry():
    tok = hs256_token({"sub": "py", "exp": int(time.time()) + 2})
    async with connect("/auth-proto",
                       subprotocols=["bearer." + tok, "chat.v1"]) as ws:
        expect(ws.subprotocol == "chat.v1",
               "selected subprotocol %r" % short(ws.subprotocol))
        await echo_one(ws, "until the token expires")
        await expect_server_close(ws, 4001, timeout=5)
        expect(ws.close_rcvd.reason == "token expired",
               "close reason %r" % ws.close_rcvd.reason)


# --- through backend links: echo.py, close_backend.py ------------------------

def close_record(sid, timeout=5):
    """The line close_backend.py wrote for session ?id=sid (E2E_CLOSE_LOG)."""
    deadline = time.monotonic() + timeout
    want = "id=" + sid
    while True:
        try:
            with open(os.environ["E2E_CLOSE_LOG"], encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    if rec["uri"].endswith(want):
                        return rec
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise CheckFailed("the backend recorded no CLOSE for %s in %ds"
                              % (sid, timeout))
        time.sleep(0.05)


def session_id():
    return "py-%s-%s" % (args.label, os.urandom(6).hex())


async def check_backend_echo():
    async with connect("/echo-py") as ws:
        await echo_one(ws, "hello, backend é 🎉")
        await echo_one(ws, bytes(range(256)) * 4)
        await echo_one(ws, "")
        await echo_one(ws, b"")


async def check_backend_big(text):
    size = 1024 * 1024
    if text:
        msg = ("big text é " * (size // 12 + 1)).encode()[:size].decode(
            "utf-8", "ignore")
        msg += "x" * (size - len(msg.encode()))
        expect(len(msg.encode()) == size, "text of %d bytes"
               % len(msg.encode()))
    else:
        msg = os.urandom(size)
    async with connect("/echo-py") as ws:
        await echo_one(ws, msg)
        await echo_one(ws, "after the big one")


async def check_backend_fragmented():
    async with connect("/echo-py") as ws:
        parts = ["frag-", "ment", "é", "🎉", "", "ed text"]
        await ws.send(parts)
        got = await recv(ws)
        expect(got == "".join(parts), "got %s" % short(got))
        bparts = [os.urandom(n) for n in (1, 1000, 0, 70000, 125, 65536)]
        await ws.send(bparts)
        got = await recv(ws)
        expect(got == b"".join(bparts), "binary fragments reassembled "
               "wrongly: %s" % short(got))


async def check_backend_client_close(code, reason):
    sid = session_id()
    async with connect("/closes?id=" + sid) as ws:
        await echo_one(ws, "before close")
        await ws.close(code, reason)
        expect(ws.close_code == code,
               "sent close %d, gateway answered %s" % (code, ws.close_code))
    rec = await asyncio.get_running_loop().run_in_executor(
        None, close_record, sid)
    expect((rec["code"], rec["by"], rec["reason"]) == (code, 0, reason),
           "the backend got %r" % rec)


async def check_backend_kick():
    sid = session_id()
    async with connect("/closes?id=" + sid) as ws:
        await echo_one(ws, "before the kick")
        await ws.send("kick 4000 kicked")
        await expect_server_close(ws, 4000)
        expect(ws.close_rcvd.reason == "kicked",
               "close reason %r" % ws.close_rcvd.reason)
    rec = await asyncio.get_running_loop().run_in_executor(
        None, close_record, sid)
    expect((rec["code"], rec["by"]) == (4000, 2), "the backend got %r" % rec)


async def check_backend_concurrent(n=1000, count=10):
    """n sessions at once over the links to echo.py; each sends `count`
    distinct messages (text and binary, pipelined) and checks every echo,
    in order."""
    opened = [0]

    async def one(i):
        async with connect("/echo-py", open_timeout=30) as ws:
            opened[0] += 1
            msgs = []
            for j in range(count):
                m = "s%d m%d %s" % (i, j, os.urandom(4).hex())
                msgs.append(m if j % 2 == 0 else m.encode())
            for m in msgs:
                await ws.send(m)
            for j, m in enumerate(msgs):
                got = await recv(ws, 30)
                if got != m:
                    raise CheckFailed("session %d message %d: sent %s, got %s"
                                      % (i, j, short(m), short(got)))

    res = await asyncio.gather(*(one(i) for i in range(n)),
                               return_exceptions=True)
    bad = [r for r in res if isinstance(r, BaseException)]
    expect(not bad, "%d of %d sessions failed (%d opened), first: %r"
           % (len(bad), n, opened[0], bad[:1]))


async def check_backend_approve():
    # chat.py accepts a room of [A-Za-z0-9_.:-], and refuses others with 400
    async with connect("/chat-approve?room=e2e-py&user=pia") as ws:
        m = json.loads(await recv(ws))
        expect(m.get("type") == "welcome" and m.get("user") == "pia"
               and m.get("room") == "e2e-py", "first message %r" % m)
        await ws.close(1000)

    try:
        async with connect("/chat-approve?room=bad%20room&user=pia"):
            pass
    except websockets.InvalidStatusCode as e:
        expect(e.status_code == 400, "status %d, want 400" % e.status_code)
    else:
        raise CheckFailed("the backend's REJECT did not refuse the handshake")


CHECKS = [
    ("text echo", check_text),
    ("binary echo", check_binary),
    ("empty text message", check_empty_text),
    ("empty binary message", check_empty_binary),
    ("200 KB binary message", lambda: check_large(200 * 1024)),
    ("900 KB binary message", lambda: check_large(900 * 1024)),
    ("900 KB text message", lambda: check_large(900 * 1024, text=True)),
    ("200 KB through 256-byte read buffer, 1k outbound limit",
     lambda: check_large(200 * 1024, path="/tiny")),
    ("UTF-8 multi-byte text incl. 4-byte emoji", check_utf8),
    ("fragmented text message", check_fragmented_text),
    ("fragmented binary message", check_fragmented_binary),
    ("pings between fragments", check_fragmented_with_ping),
    ("ping -> pong with payload", lambda: check_ping(b"ping-payload\x00\xff")),
    ("ping -> pong, empty payload", lambda: check_ping(b"")),
    ("ping -> pong, 125-byte payload", lambda: check_ping(b"p" * 125)),
    ("subprotocol: client preference order",
     lambda: check_subprotocol(["chat.v1", "chat.v2"], "chat.v1")),
    ("subprotocol: single match",
     lambda: check_subprotocol(["nope", "chat.v2"], "chat.v2")),
    ("subprotocol: none matches",
     lambda: check_subprotocol(["nope"], None)),
    ("close 1000 echoed", lambda: check_close(1000, "")),
    ("close 4001 with reason echoed", lambda: check_close(4001, "bye now é")),
    ("close without payload answered without", check_close_empty),
    ("invalid UTF-8 -> close 1007", check_invalid_utf8),
    ("unmasked frame -> close 1002", check_unmasked_frame),
    ("invalid frame pipelined with the handshake -> 101, close 1002, end",
     check_pipelined_bad_frame),
    ("frame over max_frame_size -> close 1009", check_frame_too_big),
    ("message over max_message_size -> close 1009", check_message_too_big),
    ("message over default 1m -> close 1009", check_default_limit),
    ("connection ends promptly after a protocol-error close",
     check_violation_close_ends_connection),
    ("idle timeout -> close 1000", check_idle_timeout),
    ("server pings answered", check_server_ping),
    ("200 concurrent connections x 3 round trips", check_concurrent),
    ("1000 pipelined messages in order", check_pipelined),
    ("300 pipelined 1 KB messages, 1k outbound limit",
     lambda: check_pipelined(300, "/tiny", 1000)),
    ("auth: HS256 token in Authorization accepted", check_auth_header),
    ("auth: no token -> 401 without error",
     lambda: check_auth_refused(None, None)),
    ("auth: wrong secret -> 401 invalid signature",
     lambda: check_auth_refused(
         hs256_token({"exp": int(time.time()) + 600}, b"x" * 32),
         "invalid signature")),
    ("auth: expired token -> 401 token expired",
     lambda: check_auth_refused(
         hs256_token({"exp": int(time.time()) - 10}), "token expired")),
    ("auth: token in a subprotocol entry, not echoed; closed 4001 at expiry",
     check_auth_protocol_expiry),
    ("backend: text and binary echo", check_backend_echo),
    ("backend: 1 MiB binary message", lambda: check_backend_big(False)),
    ("backend: 1 MiB text message", lambda: check_backend_big(True)),
    ("backend: fragmented messages", check_backend_fragmented),
    ("backend: client close 1000 reaches the backend",
     lambda: check_backend_client_close(1000, "")),
    ("backend: client close 4001 with reason reaches the backend",
     lambda: check_backend_client_close(4001, "bye now é")),
    ("backend: backend close 4000 kicked reaches the client",
     check_backend_kick),
    ("backend: 1000 concurrent sessions x 10 messages, every echo in order",
     check_backend_concurrent),
    ("backend: approval accepts a good room, refuses a bad one with 400",
     check_backend_approve),
]

# checks that need more than CHECK_TIMEOUT
LONG_CHECKS = {
    "backend: 1000 concurrent sessions x 10 messages, every echo in order":
    90,
}


async def check_graceful_shutdown():
    # run.sh starts this before it stops nginx with SIGQUIT, once READY
    async with connect() as ws:
        await echo_one(ws, "before shutdown")
        print("READY", flush=True)
        await expect_server_close(ws, 1001, timeout=20, wait_end=True)
        expect(ws.close_reason == "server shutting down",
               "reason %r" % ws.close_reason)


async def run_check(name, fn):
    label = "py/%s %s" % (args.label, name)
    limit = 30 if args.shutdown else LONG_CHECKS.get(name, CHECK_TIMEOUT)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(fn(), limit)
    except asyncio.TimeoutError:
        why = "timed out after %ds" % limit
    except CheckFailed as e:
        why = str(e)
    except Exception as e:  # noqa: BLE001 - any error fails the check
        why = "%s: %s" % (type(e).__name__, e)
    else:
        results["pass"] += 1
        print("PASS %s (%.2fs)" % (label, time.monotonic() - t0), flush=True)
        return
    results["fail"] += 1
    print("FAIL %s: %s" % (label, why), flush=True)


async def main():
    global args, ssl_ctx
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="ws://host:port")
    p.add_argument("--cafile", help="trust this certificate (wss)")
    p.add_argument("--label", default="plain")
    p.add_argument("--only", help="run the checks whose name has this")
    p.add_argument("--shutdown", action="store_true",
                   help="only: hold a session until nginx shuts down")
    args = p.parse_args()

    if args.base.startswith("wss:"):
        ssl_ctx = ssl.create_default_context(cafile=args.cafile)

    checks = CHECKS
    if args.shutdown:
        checks = [("close 1001 on graceful shutdown",
                   check_graceful_shutdown)]

    for name, fn in checks:
        if args.only and args.only not in name:
            continue
        await run_check(name, fn)

    print("# py/%s: %d passed, %d failed"
          % (args.label, results["pass"], results["fail"]), flush=True)
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
