#!/usr/bin/python3
"""End-to-end checks of issue 11 (channels, failover, backpressure) with
real clients (Python websockets), run by t/e2e/run.sh:

    /usr/bin/python3 t/e2e/channels.py --nginx NGINX --module SO \
        --ports "P0 P1 P2 P3 P4 P5 P6" --work DIR

Starts its own NGINX (master, 2 workers, error_log info) on 127.0.0.1:P0
and t/e2e/ch_backend.py backends on P1..P6, runs:

  fan-out      1,000 clients on a location with `ws_gateway_subscribe
               room`; 50 numbered PUBLISHes, 1 B .. 64 KiB, text and
               binary, then 2 BROADCASTs: each client gets all, byte for
               byte, in order; 10 clients of the same upstream that are
               not subscribed get the BROADCASTs only; 200 clients that
               the backend SUBSCRIBEs get 50 PUBLISHes
  backend kill SIGKILL of the backend under traffic, restarted: every
               session re-announced, no reconnect, and per session
               UNSENT <= sent - received <= UNCONFIRMED
  slow backend the backend stops reading: client writes block, worker
               RSS bounded (numbers printed); then every message arrives
  slow client  policy drop: DROPPED counts equal what the client missed;
               policy close 1008: the client gets 1008
  send timeout a backend that stops reading, ws_gateway_link_send_timeout
               1s: its sessions move to the other backend

Prints "PASS ch <name>" / "FAIL ch <name>: why" (and "# ..." notes);
exits 1 when a check failed.  Every step has a timeout.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import base64

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from ch_backend import fan_message  # noqa: E402

args = None
results = {"pass": 0, "fail": 0}
FAN_N = 50


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def note(*a):
    print("#", *a, flush=True)


def report(name, ok, why=""):
    if ok:
        results["pass"] += 1
        print("PASS ch %s" % name, flush=True)
    else:
        results["fail"] += 1
        print("FAIL ch %s: %s" % (name, why), flush=True)


async def run_check(name, fn, limit):
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(fn(), limit)
    except asyncio.TimeoutError:
        report(name, False, "timed out after %ds" % limit)
    except CheckFailed as e:
        report(name, False, str(e))
    except Exception as e:  # noqa: BLE001 - any error fails the check
        report(name, False, "%s: %s" % (type(e).__name__, e))
    else:
        report(name + " (%.1fs)" % (time.monotonic() - t0), True)


# --- backends ---------------------------------------------------------------

class Backend:
    def __init__(self, name, port, log=None):
        self.name = name
        self.port = port
        self.log = log
        self.p = None
        self.n = 0

    async def start(self):
        self.n += 1
        err = open(os.path.join(args.work, "%s-%d.err" % (self.name, self.n)),
                   "w")
        cmd = [sys.executable, os.path.join(HERE, "ch_backend.py"),
               "127.0.0.1:%d" % self.port, self.name]
        if self.log:
            cmd.append(self.log)
        self.p = await asyncio.create_subprocess_exec(
            "timeout", "-k", "5", "600", *cmd, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        line = await asyncio.wait_for(self.p.stdout.readline(), 10)
        expect(line.decode().strip() == "gwlink: listening on 127.0.0.1:%d"
               % self.port, "%s did not start: %r" % (self.name, line))

    async def do(self, **cmd):
        self.p.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.p.stdin.drain()
        line = await asyncio.wait_for(self.p.stdout.readline(), 60)
        expect(line, "%s: no answer to %r" % (self.name, cmd))
        out = json.loads(line)
        expect("error" not in out, "%s: %r -> %s" % (self.name, cmd,
                                                       out.get("error")))
        return out

    def kill(self, sig=signal.SIGKILL):
        # the process group: timeout(1) and the backend under it
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    async def stop(self):
        if self.p is None or self.p.returncode is not None:
            return
        self.kill(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.p.wait(), 5)
        except asyncio.TimeoutError:
            self.kill(signal.SIGKILL)
            await self.p.wait()


async def wait_for(fn, timeout, step=0.2):
    """fn() (async) until truthy, or the last value after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = await fn()
        if v or time.monotonic() > deadline:
            return v
        await asyncio.sleep(step)


# --- nginx ------------------------------------------------------------------

CONF = """
load_module {module};
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 8192;
pid {work}/nginx.pid;
error_log {work}/error.log info;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;

    upstream fan {{
        server 127.0.0.1:{p1};
    }}
    upstream killu {{
        server 127.0.0.1:{p2};
        ws_gateway_links 2;
        ws_gateway_link_heartbeat 300ms;
        ws_gateway_link_backoff 100ms 300ms;
    }}
    upstream slowu {{
        server 127.0.0.1:{p3};
        ws_gateway_links 1;
        ws_gateway_link_high_watermark 256k;
        ws_gateway_link_low_watermark 64k;
        ws_gateway_link_send_timeout 60s;
        ws_gateway_link_read_timeout 60s;
    }}
    upstream dropu {{
        server 127.0.0.1:{p4};
        ws_gateway_links 1;
    }}
    upstream stou {{
        server 127.0.0.1:{p5};
        server 127.0.0.1:{p6};
        ws_gateway_links 1;
        ws_gateway_link_send_timeout 1s;
        ws_gateway_link_read_timeout 60s;
    }}

    server {{
        listen 127.0.0.1:{p0};

        location = /fan {{
            ws_gateway_pass fan;
            ws_gateway_subscribe room;
        }}
        location = /fan-sub {{
            ws_gateway_pass fan;
        }}
        location = /fan-other {{
            ws_gateway_pass fan;
        }}
        location = /kill {{
            ws_gateway_pass killu;
            ws_gateway_failover_timeout 30s;
        }}
        location = /slow {{
            ws_gateway_pass slowu;
        }}
        location = /drop {{
            ws_gateway_pass dropu;
            ws_gateway_outbound_limit 64k;
            ws_gateway_outbound_policy drop;
        }}
        location = /close1008 {{
            ws_gateway_pass dropu;
            ws_gateway_outbound_limit 64k;
            ws_gateway_outbound_policy close 1008;
        }}
        location = /sto {{
            ws_gateway_pass stou;
            ws_gateway_failover_timeout 30s;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self):
        self.p = None

    async def start(self):
        os.makedirs(os.path.join(args.work, "tmp"), exist_ok=True)
        conf = os.path.join(args.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(module=args.module, work=args.work,
                                **{"p%d" % i: p
                                   for i, p in enumerate(args.ports)}))
        # nginx -t returns from main() holding its new cycle in a local
        # only: LeakSanitizer may report that NGINX memory, whether it
        # does depends on what the stack happens to keep; the module's
        # leaks are checked when the real run exits
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "")
                               + ":detect_leaks=0").lstrip(":")
        t = subprocess.run([args.nginx, "-t", "-p", args.work, "-c", conf,
                            "-e", os.path.join(args.work, "error.log")],
                           capture_output=True, text=True, timeout=30,
                           env=env)
        expect(t.returncode == 0, "nginx -t: %s" % t.stderr.strip()[-400:])
        self.p = await asyncio.create_subprocess_exec(
            args.nginx, "-p", args.work, "-c", conf,
            "-e", os.path.join(args.work, "error.log"),
            stdout=subprocess.DEVNULL, stderr=open(
                os.path.join(args.work, "nginx.stderr"), "w"))
        ok = await wait_for(lambda: asyncio.sleep(0, len(self.workers())
                                                  == 2), 10)
        expect(ok, "nginx workers did not start")

    def workers(self):
        out = []
        if self.p is None:
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            ppid = int(st.rsplit(")", 1)[1].split()[1])
            if ppid == self.p.pid:
                out.append(int(d))
        return sorted(out)

    def rss(self):
        """{worker pid: VmRSS kB}"""
        out = {}
        for pid in self.workers():
            try:
                with open("/proc/%d/status" % pid) as f:
                    m = re.search(r"VmRSS:\s+(\d+)", f.read())
                out[pid] = int(m.group(1))
            except (OSError, AttributeError):
                pass
        return out

    async def stop(self):
        if self.p is None or self.p.returncode is not None:
            return
        self.p.send_signal(signal.SIGQUIT)
        try:
            await asyncio.wait_for(self.p.wait(), 15)
        except asyncio.TimeoutError:
            report("nginx stops gracefully", False, "still running 15s "
                   "after SIGQUIT")
            for pid in self.workers():
                os.kill(pid, signal.SIGKILL)
            self.p.kill()
            await self.p.wait()


def url(path):
    return "ws://127.0.0.1:%d%s" % (args.ports[0], path)


def connect(path, **kw):
    opts = dict(open_timeout=30, close_timeout=5, max_size=None,
                ping_interval=None, compression=None)
    opts.update(kw)
    return websockets.connect(url(path), **opts)


async def connect_many(paths, concurrency=100):
    sem = asyncio.Semaphore(concurrency)

    async def one(p):
        async with sem:
            return await connect(p)

    res = await asyncio.gather(*(one(p) for p in paths),
                               return_exceptions=True)
    bad = [r for r in res if isinstance(r, BaseException)]
    ok = [r for r in res if not isinstance(r, BaseException)]
    if bad:
        await asyncio.gather(*(w.close() for w in ok),
                             return_exceptions=True)
        raise CheckFailed("%d of %d connections failed, first %r"
                          % (len(bad), len(paths), bad[0]))
    return ok


async def close_all(conns):
    await asyncio.gather(*(w.close() for w in conns), return_exceptions=True)


# --- fan-out ----------------------------------------------------------------

B = {}      # the backends, by name


async def check_fan_sub():
    """200 clients the backend SUBSCRIBEs to room2; 50 PUBLISHes."""
    n = 200
    conns = await connect_many(["/fan-sub?c=s%d" % i for i in range(n)])
    try:
        be = B["fan"]
        st = await wait_for(lambda: _live(be, "s", n), 20)
        expect(st, "the backend has not seen %d sessions" % n)
        await be.do(cmd="barrier")      # its SUBSCRIBEs are handled
        r = await be.do(cmd="publish", channel="room2", n=FAN_N)
        expect(r["links"] == 2, "published on %d links, want 2 (one per "
               "worker)" % r["links"])
        want = [fan_message(i, FAN_N) for i in range(FAN_N)]
        await _expect_all(conns, want)
    finally:
        await close_all(conns)


async def _live(be, prefix, n):
    st = await be.do(cmd="stats")
    return len([t for t in st["live"] if t.startswith(prefix)]) >= n


async def _expect_all(conns, want, quiet=0.5):
    async def one(i, ws):
        for j, m in enumerate(want):
            got = await asyncio.wait_for(ws.recv(), 60)
            if got != m:
                return "client %d message %d: %s %d bytes, want %s %d" % (
                    i, j, type(got).__name__, len(got), type(m).__name__,
                    len(m))
        try:
            extra = await asyncio.wait_for(ws.recv(), quiet)
            return "client %d: an extra message %r" % (i, extra[:40])
        except asyncio.TimeoutError:
            return None

    res = await asyncio.gather(*(one(i, w) for i, w in enumerate(conns)),
                               return_exceptions=True)
    bad = [r for r in res if r is not None]
    expect(not bad, "%d of %d clients wrong, first: %s"
           % (len(bad), len(conns), bad[:1]))


async def check_fan():
    """1,000 clients with ws_gateway_subscribe room, 10 not subscribed."""
    n = 1000
    conns = await connect_many(["/fan?c=f%d" % i for i in range(n)])
    others = await connect_many(["/fan-other?c=o%d" % i for i in range(10)])
    try:
        be = B["fan"]
        expect(await wait_for(lambda: _live(be, "f", n), 30),
               "the backend has not seen %d sessions" % n)
        await be.do(cmd="barrier")
        t0 = time.monotonic()
        r = await be.do(cmd="publish", channel="room", n=FAN_N)
        expect(r["links"] == 2, "published on %d links, want 2" % r["links"])
        bin_ = os.urandom(3000)
        await be.do(cmd="broadcast", text="broadcast é ✓")
        await be.do(cmd="broadcast", hex=bin_.hex())
        want = [fan_message(i, FAN_N) for i in range(FAN_N)]
        want += ["broadcast é ✓", bin_]
        await asyncio.gather(_expect_all(conns, want),
                             _expect_all(others, want[-2:]))
        note("fan-out: %d clients x %d messages (%d bytes each) in %.1fs"
             % (n, len(want), sum(len(m.encode() if isinstance(m, str)
                                      else m) for m in want),
                time.monotonic() - t0))
    finally:
        await close_all(conns + others)


# --- backend killed and restarted ------------------------------------------

async def check_kill():
    n = 20
    be = B["kill"]
    conns = await connect_many(["/kill?c=k%d" % i for i in range(n)])
    sent = [0] * n
    stop = asyncio.Event()
    errors = []

    async def sender(i, ws):
        try:
            while not stop.is_set():
                await ws.send("k%d %d %s" % (i, sent[i], "p" * 100))
                sent[i] += 1
                await asyncio.sleep(0.005)
        except Exception as e:  # noqa: BLE001
            errors.append("client %d send: %r" % (i, e))

    async def reader(ws):
        try:
            async for _ in ws:
                pass
        except Exception:  # noqa: BLE001 - checked by ws.open below
            pass

    tasks = [asyncio.create_task(sender(i, w)) for i, w in enumerate(conns)]
    readers = [asyncio.create_task(reader(w)) for w in conns]
    try:
        expect(await wait_for(lambda: _live(be, "k", n), 20),
               "the backend has not seen %d sessions" % n)
        await asyncio.sleep(2)
        note("backend kill: SIGKILL after %d messages" % sum(sent))
        be.kill()
        await be.p.wait()
        killed_at = sum(sent)
        at_kill = list(sent)
        await asyncio.sleep(1)
        await be.start()
        note("backend kill: restarted")
        ok = await wait_for(lambda: _reannounced(be, n), 20)
        st = await be.do(cmd="stats")
        tags = {r["tag"] for r in st["reannounce"]}
        expect(ok, "the new backend saw %d of %d sessions re-announced"
               % (len(tags), n))
        expect(not st["opens"], "the new backend saw plain OPENs: %r"
               % st["opens"][:5])
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*tasks)
        expect(not errors, errors[:1])
        expect(all(w.open for w in conns), "a client connection ended")
        total = sum(sent)
        expect(total > killed_at, "nothing sent after the kill")

        # what the backends got: both logs
        async def settled():
            a = await be.do(cmd="stats")
            await asyncio.sleep(1)
            b = await be.do(cmd="stats")
            return a["recv"] == b["recv"]
        await wait_for(settled, 10, 0)
        got = {}
        with open(be.log) as f:
            for line in f:
                tag, num = line.split()[:2]
                got.setdefault(tag, set()).add(int(num))
        rs = {r["tag"]: r for r in st["reannounce"]}
        bad = []
        sums = [0, 0, 0]
        for i in range(n):
            tag = "k%d" % i
            lost = sent[i] - len(got.get(tag, ()))
            r = rs[tag]
            sums[0] += r["unsent"]
            sums[1] += lost
            sums[2] += r["unconfirmed"]
            if not r["unsent"] <= lost <= r["unconfirmed"]:
                missing = sorted(set(range(sent[i])) - got.get(tag, set()))
                bad.append("%s (session %016x): unsent %d, lost %d (sent %d, "
                           "%d at the kill; missing %s), unconfirmed %d"
                           % (tag, r["sid"], r["unsent"], lost, sent[i],
                              at_kill[i],
                              missing[:5], r["unconfirmed"]))
        note("backend kill: %d messages sent, %d before the kill; "
             "UNSENT %d <= lost %d <= UNCONFIRMED %d (sums)"
             % (total, killed_at, sums[0], sums[1], sums[2]))
        expect(not bad, "%d sessions out of bounds, first: %s"
               % (len(bad), bad[0] if bad else ""))
        expect(sums[0] <= sums[1] <= sums[2], "sums out of bounds")
        expect(all(w.open for w in conns), "a client connection ended")
    finally:
        stop.set()
        for t in tasks + readers:
            t.cancel()
        await close_all(conns)


async def _reannounced(be, n):
    st = await be.do(cmd="stats")
    return len({r["tag"] for r in st["reannounce"]}) >= n


# --- slow backend ------------------------------------------------------------

async def check_slow_backend(nginx):
    n = 20
    size = 16 * 1024
    be = B["slow"]
    conns = await connect_many(["/slow?c=w%d" % i for i in range(n)])
    sent = [0] * n
    stop = asyncio.Event()
    errors = []

    async def sender(i, ws):
        pad = "y" * size
        try:
            while not stop.is_set():
                await ws.send("w%d %d %s" % (i, sent[i], pad))
                sent[i] += 1
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (i, e))

    tasks = []
    try:
        expect(await wait_for(lambda: _live(be, "w", n), 20),
               "the backend has not seen %d sessions" % n)
        rss0 = nginx.rss()
        await be.do(cmd="pause")
        tasks = [asyncio.create_task(sender(i, w))
                 for i, w in enumerate(conns)]
        await asyncio.sleep(3)
        s1, rss1 = sum(sent), nginx.rss()
        await asyncio.sleep(3)
        s2, rss2 = sum(sent), nginx.rss()
        growth = max(rss2.get(p, 0) - rss0.get(p, 0) for p in rss2)
        note("slow backend: clients sent %d messages (%d KB) in 3 s, %d "
             "more in the next 3 s; worker VmRSS kB before %r, at 3 s %r, "
             "at 6 s %r" % (s1, s1 * size // 1024, s2 - s1, rss0, rss1,
                            rss2))
        expect(not errors, errors[:1])
        expect((s2 - s1) * size < 1024 * 1024,
               "client writes did not block: %d messages (%d KB) in the "
               "last 3 s" % (s2 - s1, (s2 - s1) * size // 1024))
        expect(growth < 32 * 1024, "worker RSS grew by %d kB" % growth)
        stop.set()
        await be.do(cmd="resume")
        await asyncio.wait_for(asyncio.gather(*tasks), 30)

        async def all_in():
            st = await be.do(cmd="stats")
            return all(st["recv"].get("w%d" % i, 0) >= sent[i]
                       for i in range(n)) and st
        st = await wait_for(all_in, 30)
        expect(st, "not every message arrived after the backend read "
               "again")
        st = await be.do(cmd="stats")
        expect(all(st["recv"]["w%d" % i] == sent[i] for i in range(n))
               and st["order_errors"] == 0,
               "messages lost, doubled or out of order (order errors %d)"
               % st["order_errors"])
        expect(all(w.open for w in conns), "a client connection ended")
    finally:
        stop.set()
        await be.do(cmd="resume")
        for t in tasks:
            t.cancel()
        await close_all(conns)


# --- slow client (raw socket: it can really not read) -----------------------

class RawClient:
    def __init__(self, path):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.s.settimeout(10)
        self.s.connect(("127.0.0.1", args.ports[0]))
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n"
                        % (path, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            expect(d, "handshake: connection closed")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        expect(head.startswith(b"HTTP/1.1 101"), "handshake: %r" % head[:40])

    def send_text(self, text):
        p = text.encode()
        mask = os.urandom(4)
        n = len(p)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4]
                                          for i, b in enumerate(p)))

    def frames(self, quiet=2.0):
        """Every frame until `quiet` seconds without data or the end:
        [(opcode, payload)]."""
        out = []
        self.s.settimeout(quiet)
        while True:
            while True:
                f = self._frame()
                if f is None:
                    break
                out.append(f)
                if f[0] == 8:
                    return out
            try:
                d = self.s.recv(1 << 20)
            except socket.timeout:
                return out
            if not d:
                return out
            self.buf += d

    def _frame(self):
        b = self.buf
        if len(b) < 2:
            return None
        n = b[1] & 0x7f
        off = 2
        if n == 126:
            if len(b) < 4:
                return None
            (n,) = struct.unpack_from(">H", b, 2)
            off = 4
        elif n == 127:
            if len(b) < 10:
                return None
            (n,) = struct.unpack_from(">Q", b, 2)
            off = 10
        if len(b) < off + n:
            return None
        self.buf = b[off + n:]
        return (b[0] & 0x0f, b[off:off + n])

    def close(self):
        self.s.close()


async def check_slow_client_drop():
    be = B["drop"]
    loop = asyncio.get_running_loop()
    c = await loop.run_in_executor(None, RawClient, "/drop?c=d1")
    try:
        expect(await wait_for(lambda: _live(be, "d1", 1), 10),
               "the backend has not seen the session")
        m, size = 400, 4096
        r = await be.do(cmd="sendto", tag="d1", n=m, size=size)
        expect(r["sent"] == m, "sent %r" % r)
        await asyncio.sleep(1)
        frames = await loop.run_in_executor(None, c.frames)
        nums = []
        for op, p in frames:
            expect(op == 1, "a frame of opcode %d" % op)
            t = p.decode()
            head = t.split(" ", 2)
            expect(len(p) == size and head[0] == "d1",
                   "a damaged message %r" % t[:40])
            nums.append(int(head[1]))
        expect(nums == sorted(set(nums)), "messages out of order")
        missed = m - len(nums)
        expect(missed > 0, "nothing was dropped (%d of %d arrived): the "
               "check proves nothing" % (len(nums), m))

        async def dropped():
            st = await be.do(cmd="stats")
            return st["dropped"].get("d1", 0) == missed and st
        st = await wait_for(dropped, 5)
        st = await be.do(cmd="stats")
        note("slow client, drop: %d of %d arrived, DROPPED total %d"
             % (len(nums), m, st["dropped"].get("d1", 0)))
        expect(st["dropped"].get("d1", 0) == missed,
               "DROPPED total %d, the client missed %d"
               % (st["dropped"].get("d1", 0), missed))
        await loop.run_in_executor(None, c.send_text, "still open")
        frames = await loop.run_in_executor(None, c.frames, 3.0)
        expect(frames[:1] == [(1, b"still open")],
               "the session is not open: %r" % frames[:1])
        st = await be.do(cmd="stats")
        expect("d1" in st["live"], "the backend had a CLOSE")
    finally:
        c.close()


async def check_slow_client_close():
    be = B["drop"]
    loop = asyncio.get_running_loop()
    c = await loop.run_in_executor(None, RawClient, "/close1008?c=d2")
    try:
        expect(await wait_for(lambda: _live(be, "d2", 1), 10),
               "the backend has not seen the session")
        await be.do(cmd="sendto", tag="d2", n=400, size=4096)
        await asyncio.sleep(1)
        frames = await loop.run_in_executor(None, c.frames, 5.0)
        expect(frames and frames[-1][0] == 8,
               "no Close frame (%d frames)" % len(frames))
        p = frames[-1][1]
        code = struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None
        expect(code == 1008, "Close %r %r, want 1008" % (code, p[2:]))

        async def closed():
            st = await be.do(cmd="stats")
            return [x for x in st["closes"] if x["tag"] == "d2"]
        cl = await wait_for(closed, 5)
        expect(cl and cl[0]["code"] == 1008 and cl[0]["by"] == 1,
               "the backend's CLOSE event %r" % cl)
        note("slow client, close: %d messages, then Close 1008 %r"
             % (len(frames) - 1, p[2:].decode("utf-8", "replace")))
    finally:
        c.close()


# --- link send timeout -------------------------------------------------------

async def check_send_timeout():
    n = 20
    x, y = B["stx"], B["sty"]
    conns = await connect_many(["/sto?c=t%d" % i for i in range(n)])
    tasks = []
    try:
        async def both():
            a = await x.do(cmd="stats")
            b = await y.do(cmd="stats")
            return len(a["live"]) + len(b["live"]) >= n and (a, b)
        st = await wait_for(both, 20)
        expect(st, "the backends have not seen %d sessions" % n)
        on_x = set(st[0]["live"])
        expect(on_x and set(st[1]["live"]), "sessions all on one backend: "
               "%d on X" % len(on_x))
        await x.do(cmd="pause")
        big = "z" * (16 * 1024)

        async def flood(i, ws):
            for j in range(50):
                await ws.send("t%d %d %s" % (i, j, big))

        async def drain(ws):
            try:
                async for _ in ws:
                    pass
            except Exception:  # noqa: BLE001
                pass
        tasks = [asyncio.create_task(flood(i, w))
                 for i, w in enumerate(conns)]
        readers = [asyncio.create_task(drain(w)) for w in conns]

        async def moved():
            b = await y.do(cmd="stats")
            return on_x <= {r["tag"] for r in b["reannounce"]} and b
        b = await wait_for(moved, 20)
        b = b or await y.do(cmd="stats")
        got = {r["tag"] for r in b["reannounce"]}
        note("send timeout: %d sessions on the stalled backend, %d "
             "re-announced on the other" % (len(on_x), len(on_x & got)))
        expect(on_x <= got, "not re-announced on the other backend: %s"
               % sorted(on_x - got)[:5])
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for r in readers:
            r.cancel()
        # every session answers, now through the other backend
        for i, w in enumerate(conns):
            expect(w.open, "client %d's connection ended" % i)
        res = await asyncio.gather(*(_echo(w, "final %d" % i)
                                     for i, w in enumerate(conns)),
                                   return_exceptions=True)
        bad = [r for r in res if r is not True]
        expect(not bad, "%d sessions did not echo after the move: %r"
               % (len(bad), bad[:1]))
        await x.do(cmd="resume")
        a = await wait_for(lambda: _link_closes(x, 1), 10)
        expect(a, "the stalled backend saw no link reset")
    finally:
        await x.do(cmd="resume")
        for t in tasks:
            t.cancel()
        await close_all(conns)


async def _link_closes(be, n):
    st = await be.do(cmd="stats")
    return st["link_closes"] >= n


async def _echo(ws, text):
    await ws.send(text)
    while True:
        m = await asyncio.wait_for(ws.recv(), 20)
        if m == text:
            return True


# --- main --------------------------------------------------------------------

def scan_log():
    log = os.path.join(args.work, "error.log")
    try:
        with open(log, errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    bad = re.findall(r".*\[(?:alert|crit|emerg)\].*", text)
    report("error log has no [alert], [crit] or [emerg]", not bad,
           "%d lines, first: %s" % (len(bad), bad[:1]))
    sig = re.findall(r".*exited on signal.*", text)
    report("no worker exited on a signal", not sig, sig[:1])
    try:
        with open(os.path.join(args.work, "nginx.stderr"),
                  errors="replace") as f:
            text += f.read()
    except OSError:
        pass
    san = re.findall(r".*(?:runtime error|Sanitizer).*", text)
    report("no sanitizer report in the error log", not san, san[:1])


async def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--module", required=True)
    p.add_argument("--ports", required=True,
                   help="7 ports: nginx, then the backends")
    p.add_argument("--work", required=True)
    p.add_argument("--only", help="run the checks whose name has this")
    args = p.parse_args()
    args.ports = [int(x) for x in args.ports.split()]
    if len(args.ports) != 7:
        print("FAIL ch ports: want 7, got %r" % args.ports)
        return 1
    args.module = os.path.abspath(args.module)
    args.work = os.path.abspath(args.work)
    os.makedirs(args.work, exist_ok=True)

    B["fan"] = Backend("fan", args.ports[1])
    B["kill"] = Backend("kill", args.ports[2],
                        os.path.join(args.work, "kill.log"))
    B["slow"] = Backend("slow", args.ports[3])
    B["drop"] = Backend("drop", args.ports[4])
    B["stx"] = Backend("stx", args.ports[5])
    B["sty"] = Backend("sty", args.ports[6])
    nginx = Nginx()
    # run.sh's timeout or ^C: the finally below stops what was started
    me = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, me.cancel)
    try:
        try:
            for b in B.values():
                await b.start()
            await nginx.start()
            report("nginx and 6 backends started", True)
        except Exception as e:  # noqa: BLE001
            report("nginx and 6 backends started", False, str(e))
            return 1

        async def links_up():
            for b in B.values():
                st = await b.do(cmd="stats")
                if st["groups"] < 2:
                    return False
            return True
        ok = await wait_for(links_up, 15)
        report("every backend has links from both workers", ok,
               "a backend has links from fewer than 2 workers")

        checks = [
            ("fan-out: 200 clients SUBSCRIBEd by the backend, 50 "
             "PUBLISHes", check_fan_sub, 90),
            ("fan-out: 1,000 clients (ws_gateway_subscribe), 50 PUBLISHes "
             "1 B-64 KiB text and binary, 2 BROADCASTs, byte for byte, in "
             "order", check_fan, 180),
            ("backend SIGKILLed and restarted under traffic: every session "
             "re-announced, no reconnect, UNSENT <= lost <= UNCONFIRMED",
             check_kill, 90),
            ("slow backend: client writes block, worker RSS bounded, then "
             "every message arrives", lambda: check_slow_backend(nginx),
             90),
            ("slow client, policy drop: DROPPED equals what it missed, "
             "the session stays open", check_slow_client_drop, 60),
            ("slow client, policy close 1008: Close 1008",
             check_slow_client_close, 60),
            ("link send timeout: the stalled backend's sessions move to "
             "the other backend", check_send_timeout, 90),
        ]
        for name, fn, limit in checks:
            if args.only and args.only not in name:
                continue
            await run_check(name, fn, limit)
    finally:
        await nginx.stop()
        for b in B.values():
            await b.stop()
            err = ""
            for i in range(1, b.n + 1):
                try:
                    with open(os.path.join(args.work, "%s-%d.err"
                                           % (b.name, i))) as f:
                        err += f.read()
                except OSError:
                    pass
            if b.n:
                report("backend %s logged no error" % b.name,
                       not re.search(r"Traceback|raised|bad record", err),
                       err[-300:])
        if nginx.p is not None:
            scan_log()
    print("# ch: %d passed, %d failed" % (results["pass"], results["fail"]),
          flush=True)
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
