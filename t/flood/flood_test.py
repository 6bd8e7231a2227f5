#!/usr/bin/python3
"""
Memory and fairness under abuse, measured from outside: clients that send
and never read, floods of tiny frames and pings, many slow readers at
once. Each test runs its own NGINX (master process on) and measures the
workers' anonymous memory (RssAnon in /proc/PID/status) before, during
and after the flood, and what the status handler reports.

Started by t/flood/run.sh, which builds what is needed and passes the
paths. Each check prints "PASS flood <name>: ..." or "FAIL flood <name>:
...", and the last line is "flood: N passed, M failed".

Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import base64
import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request


ARGS = None
PASSED = 0
FAILED = 0
ONLY = os.environ.get("FLOOD_ONLY", "")
RUNNING = []
KB = 1024
MB = 1024 * 1024


def log(msg):
    print("# " + msg, flush=True)


def record(name, ok, detail):
    global PASSED, FAILED
    if ok:
        PASSED += 1
    else:
        FAILED += 1
    print("%s flood %s: %s" % ("PASS" if ok else "FAIL", name, detail),
          flush=True)
    return ok


def le(name, got, hi, unit=""):
    return record(name, got is not None and got <= hi,
                  "got %s%s, want <= %s%s" % (got, unit, hi, unit))


def ge(name, got, lo, unit=""):
    return record(name, got is not None and got >= lo,
                  "got %s%s, want >= %s%s" % (got, unit, lo, unit))


# --- nginx --------------------------------------------------------------------

CONF = """# written by t/flood/flood_test.py
load_module %(module)s;
master_process on;
daemon on;
worker_processes %(workers)d;
worker_rlimit_nofile 20000;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log info;

events {
    worker_connections 8192;
%(events)s
}

http {
    access_log off;
    client_body_temp_path %(prefix)s/tmp;
    proxy_temp_path %(prefix)s/tmp;
    fastcgi_temp_path %(prefix)s/tmp;
    uwsgi_temp_path %(prefix)s/tmp;
    scgi_temp_path %(prefix)s/tmp;
%(http)s
    server {
        listen 127.0.0.1:%(port)d;

        location /ws {
            ws_gateway_pass builtin:echo;
%(location)s
        }

        location /status {
            ws_gateway_status;
        }
    }
}
"""


class Nginx:
    def __init__(self, name, workers=1, http="", location="", events="",
                 binary=None, module=None):
        self.name = name
        self.port = ARGS.port
        self.prefix = os.path.join(ARGS.out, name)
        self.binary = binary or ARGS.nginx
        self.master = None
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        for f in ("error.log", "nginx.pid"):
            if os.path.exists(os.path.join(self.prefix, f)):
                os.unlink(os.path.join(self.prefix, f))
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(CONF % dict(module=module or ARGS.module,
                                workers=workers,
                                prefix=self.prefix, http=http,
                                location=location, events=events,
                                port=self.port))
        self.nworkers = workers

    def start(self):
        r = subprocess.run([self.binary, "-p", self.prefix, "-c", self.conf],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx %s did not start: %s"
                               % (self.name, r.stderr.strip()))
        deadline = time.time() + 10
        pidfile = os.path.join(self.prefix, "nginx.pid")
        while time.time() < deadline and self.master is None:
            try:
                with open(pidfile) as f:
                    self.master = int(f.read())
            except (OSError, ValueError):
                time.sleep(0.02)
        RUNNING.append(self)
        while time.time() < deadline:
            try:
                if (len(self.workers()) == self.nworkers
                        and len(self.status()["workers"]) == self.nworkers):
                    return self
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise RuntimeError("nginx %s did not come up" % self.name)

    def workers(self):
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.master)],
                           capture_output=True, text=True)
        return sorted(int(x) for x in r.stdout.split())

    def status(self):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/status?format=json" % self.port,
            headers={"Connection": "close"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def rss(self):
        """Anonymous memory of the workers, bytes (shared zones excluded)."""
        total = 0
        for pid in self.workers():
            try:
                with open("/proc/%d/status" % pid) as f:
                    m = re.search(r"^RssAnon:\s+(\d+) kB", f.read(), re.M)
                total += int(m.group(1)) * KB
            except (OSError, AttributeError):
                pass
        return total

    def cpu(self):
        """utime + stime of the workers, seconds."""
        total = 0
        for pid in self.workers():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError):
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def log_problems(self):
        bad = []
        try:
            with open(os.path.join(self.prefix, "error.log"),
                      errors="replace") as f:
                for line in f:
                    if re.search(r"\[(alert|crit|emerg)\]|exited on signal",
                                 line):
                        bad.append(line.strip())
        except OSError:
            pass
        return bad

    def stop(self):
        if self.master is None:
            return
        try:
            os.kill(self.master, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists(
                "/proc/%d" % self.master):
            time.sleep(0.02)
        if os.path.exists("/proc/%d" % self.master):
            os.kill(self.master, signal.SIGKILL)
        RUNNING.remove(self)
        self.master = None


def variant(name, poll):
    """
    A test's name and the Nginx() arguments for it, or for its variant
    under "use poll;" (an NGINX built with the poll module): (None, None)
    when none was given, which is recorded as a failure.
    """
    if not poll:
        return name, {}
    if not ARGS.poll_nginx:
        record("poll: a poll-capable nginx", False,
               "none given (t/flood/run.sh builds one)")
        return None, None
    return name + "-poll", dict(events="    use poll;",
                                binary=ARGS.poll_nginx,
                                module=ARGS.poll_module)


def totals(st):
    return st["totals"]


def check_clean(ngx):
    bad = ngx.log_problems()
    record("%s: error.log clean" % ngx.name, not bad,
           "no [alert]/[crit]/[emerg] or crash" if not bad
           else "; ".join(bad[:3]))


# --- clients ------------------------------------------------------------------

def frame(opcode, payload=b"", fin=True):
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def connect(port, path="/ws", rcvbuf=None, timeout=5):
    """A WebSocket client socket after the 101; rcvbuf set before connect."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(1)         # byte by byte: nothing after the 101 is read
        if not chunk:
            raise OSError("no 101")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 101"):
        raise OSError("handshake: " + buf.split(b"\r\n")[0].decode())
    return s


class Flood:
    """
    Clients that send a chunk of frames again and again, as fast as the
    sockets take it, and never read. Stops at duration, after max_bytes
    per client, or when stop() says so.
    """

    def __init__(self, port, clients, chunk, rcvbuf=4096, max_bytes=None):
        self.socks = []
        for _ in range(clients):
            s = connect(port, rcvbuf=rcvbuf)
            s.setblocking(False)
            self.socks.append(s)
        self.chunk = chunk
        self.max_bytes = max_bytes
        self.sent = {s: 0 for s in self.socks}
        self.off = {s: 0 for s in self.socks}
        self.closed = 0

    def run(self, duration, probe=None, every=0.1):
        """probe() is called every `every` s; a true result stops."""
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_WRITE)
        end = time.time() + duration
        nxt = time.time()
        while time.time() < end:
            if time.time() >= nxt:
                nxt = time.time() + every
                if probe and probe():
                    break
            if not sel.get_map():
                time.sleep(0.02)
                continue
            for key, _ in sel.select(timeout=0.02):
                s = key.fileobj
                data = self.chunk[self.off[s]:] or self.chunk
                try:
                    n = s.send(data)
                except BlockingIOError:
                    continue
                except OSError:
                    sel.unregister(s)
                    self.closed += 1
                    continue
                self.sent[s] += n
                self.off[s] = (self.off[s] + n) % len(self.chunk)
                if self.max_bytes and self.sent[s] >= self.max_bytes:
                    sel.unregister(s)
        sel.close()

    def total(self):
        return sum(self.sent.values())

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def repeat(f, size=64 * KB):
    return f * max(1, size // len(f))


class Echo:
    """A well-behaved client: one message, its echo, round trip times."""

    def __init__(self, port):
        self.s = connect(port)
        self.rtts = []

    def once(self, payload=b"0123456789abcdef", timeout=5):
        t0 = time.time()
        self.s.settimeout(timeout)
        self.s.sendall(frame(0x2, payload))
        want = 2 + len(payload)
        buf = b""
        while len(buf) < want:
            chunk = self.s.recv(want - len(buf))
            if not chunk:
                raise OSError("eof")
            buf += chunk
        self.rtts.append(time.time() - t0)

    def close(self):
        self.s.close()


def wait_for(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


# --- the tests ----------------------------------------------------------------

def flood_bound(name, clients, chunk, limit, per_session, duration=4,
                max_bytes=None):
    """
    `clients` clients send `chunk` without reading; the workers' memory
    must stay within clients x per_session (+ a few MB for the worker's
    own buffers), checked every 100 ms; the flood stops early when it is
    passed (so that an unbounded worker cannot take the machine).
    """
    ngx = Nginx(name, location="""
            ws_gateway_outbound_limit %s;
            ws_gateway_send_timeout 60s;
""" % limit).start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        base = ngx.rss()
        bound = clients * per_session + 4 * MB
        peak = [base]

        def probe():
            peak[0] = max(peak[0], ngx.rss())
            return peak[0] - base > 2 * bound

        fl = Flood(ngx.port, clients, chunk, max_bytes=max_bytes)
        fl.run(duration, probe)
        probe()
        st = totals(ngx.status())
        log("%s: %d clients sent %.1f MB in %.1f s; workers grew %.1f MB; "
            "status: queued_bytes %d, paused %s"
            % (name, clients, fl.total() / MB, duration,
               (peak[0] - base) / MB, st["queued_bytes"],
               st["sessions"].get("paused")))
        le("%s: worker memory growth during the flood" % name,
           round((peak[0] - base) / MB, 1), round(bound / MB, 1), " MB")
        ge("%s: the flood was real" % name, round(fl.total() / MB, 1),
           round(0.5 * clients * per_session / MB, 1), " MB sent")
        le("%s: queued_bytes within the limits" % name,
           st["queued_bytes"], clients * per_session)
        warm.once()
        record("%s: another client is served" % name, True,
               "echo in %.1f ms" % (warm.rtts[-1] * 1000))
        fl.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_tiny_pings():
    # empty pings, 6 bytes each: a pong each, at most two kept
    flood_bound("tiny-pings", 4, repeat(frame(0x9)), "64k", 64 * KB + 16 * KB)


def test_tiny_messages():
    # 1-byte messages, 7 bytes each: a 3-byte echo each
    flood_bound("tiny-messages", 4, repeat(frame(0x1, b"x")), "64k",
                64 * KB + 16 * KB)


def test_ping_125():
    # twenty clients of 125-byte pings against a 1 MB limit each
    flood_bound("pings-125", 20, repeat(frame(0x9, b"p" * 125)), "1m",
                1 * MB + 16 * KB)


def test_release():
    """
    Twenty slow readers fill 4 MB queues each with small messages; the
    send timeout closes them (1013), and the memory must go back to the
    system within a few seconds, not stay with the worker.
    """
    name = "release"
    ngx = Nginx(name, location="""
            ws_gateway_outbound_limit 8m;
            ws_gateway_send_timeout 4s;
            ws_gateway_close_timeout 1s;
""").start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        base = ngx.rss()
        high = [base, 0]

        def probe():
            high[0] = max(high[0], ngx.rss())
            high[1] = max(high[1], totals(ngx.status())["queued_bytes"])

        fl = Flood(ngx.port, 20, repeat(frame(0x2, b"m" * 100)),
                   max_bytes=5 * MB)
        fl.run(3, probe, every=0.2)
        probe()
        high, queued = high
        log("%s: 20 clients sent %.1f MB; workers at %.1f MB over the "
            "baseline at most, queued_bytes %d at most"
            % (name, fl.total() / MB, (high - base) / MB, queued))
        ge("%s: the queues really filled" % name,
           round((high - base) / MB, 1), 40.0, " MB")

        closed = wait_for(
            lambda: totals(ngx.status())["sessions"]["active"] <= 1, 10)
        record("%s: the slow readers were closed" % name, bool(closed),
               "active %d" % totals(ngx.status())["sessions"]["active"])
        time.sleep(1)
        after = ngx.rss()
        st = totals(ngx.status())
        log("%s: %.1f MB over the baseline after the close; ends %s, "
            "codes 1013 %s, drops %s" % (name, (after - base) / MB,
                                         st.get("ends"),
                                         st["close_codes"].get("1013"),
                                         st.get("drops")))
        le("%s: memory back near the baseline" % name,
           round((after - base) / MB, 1), 3.0, " MB")
        ge("%s: closed with 1013" % name,
           st["close_codes"].get("1013", 0), 20)
        ge("%s: their undelivered messages counted as drops" % name,
           st.get("drops", {}).get("slow", 0), 20 * 1000)
        warm.once()
        record("%s: another client is served" % name, True,
               "echo in %.1f ms" % (warm.rtts[-1] * 1000))
        fl.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_worker_budget():
    """
    Forty slow readers of 256 KB messages, 4 MB each allowed, but the
    worker may hold 8 MB in all: the largest queues are paused first, the
    worker's memory stays near the budget, and a reading client is served.
    """
    name = "worker-budget"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 8m;
""", location="""
            ws_gateway_outbound_limit 4m;
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 30s;
""").start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        base = ngx.rss()
        # the documented bound: the budget, and per session the message
        # it completed (256 KB, in blocks up to 3% more), the one it is
        # receiving, a partly filled block and two pong blocks; 4 MB for
        # the rest of the worker
        msg = 264 * KB
        bound = 8 * MB + 40 * (2 * msg + 12 * KB) + 4 * MB
        peak = [base]

        def probe():
            peak[0] = max(peak[0], ngx.rss())
            return peak[0] - base > 3 * bound

        fl = Flood(ngx.port, 40, frame(0x2, b"B" * 256 * KB))
        fl.run(4, probe)
        probe()
        st = totals(ngx.status())
        log("%s: 40 clients sent %.1f MB; workers grew %.1f MB; "
            "queued_bytes %d, pauses %s" % (name, fl.total() / MB,
                                            (peak[0] - base) / MB,
                                            st["queued_bytes"],
                                            st.get("pauses")))
        le("%s: worker memory growth" % name, round((peak[0] - base) / MB, 1),
           round(bound / MB, 1), " MB")
        le("%s: queued_bytes near the budget" % name,
           round(st["queued_bytes"] / MB, 1),
           round((8 * MB + 40 * (msg + 12 * KB)) / MB, 1), " MB")
        ge("%s: sessions paused by the worker budget" % name,
           st.get("pauses", {}).get("worker", 0), 1)
        for _ in range(20):
            warm.once()
        le("%s: a reading client keeps its round trip" % name,
           round(max(warm.rtts) * 1000, 1), 200.0, " ms (max of 20)")
        fl.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_loop_fairness():
    """
    One client floods empty pings (answered by one pong at a time, so its
    reads are never paused) and another tiny messages it reads back: the
    worker must still get to its timers and to other sessions. Loop lag
    and another client's echo are measured.
    """
    name = "loop-fairness"
    ngx = Nginx(name, location="""
            ws_gateway_outbound_limit 1m;
""").start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        fl = Flood(ngx.port, 2, repeat(frame(0x9), 256 * KB))
        deadline = time.time() + 4

        def probe():
            warm.once()
            return time.time() > deadline

        fl.run(4.5, probe, every=0.05)
        lag = lag_max(ngx.status()["workers"][0])
        log("%s: %.1f MB of pings in 4 s; echo rtt max %.1f ms over %d; "
            "loop lag max %s us" % (name, fl.total() / MB,
                                    max(warm.rtts) * 1000, len(warm.rtts),
                                    lag))
        ge("%s: the flood was real" % name, round(fl.total() / MB, 1), 10.0,
           " MB")
        le("%s: loop lag max (status, 10 s window)" % name,
           lag, 50000, " us")
        le("%s: another client's echo round trip" % name,
           round(max(warm.rtts[1:]) * 1000, 1), 100.0, " ms (max)")
        fl.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def lag_max(w):
    """The loop lag max of a worker's 10 s window, in us."""
    return w["windows"]["10s"]["loop_lag_us"]["max"]


def test_poll_idle_cpu():
    """
    Under events { use poll; } a session whose queue has drained must not
    leave its write event on: the worker would spin at full CPU.
    """
    if not ARGS.poll_nginx:
        record("poll: a poll-capable nginx", False,
               "none given (t/flood/run.sh builds one)")
        return
    name = "poll-idle"
    ngx = Nginx(name, events="    use poll;", binary=ARGS.poll_nginx,
                module=ARGS.poll_module, location="").start()
    try:
        clients = [Echo(ngx.port) for _ in range(3)]
        for c in clients:
            c.once()

        # one of them reads late: its queue meets a full socket first
        slow = connect(ngx.port, rcvbuf=4096)
        msg = frame(0x2, b"s" * 4000)
        sender = threading.Thread(
            target=lambda: [slow.sendall(msg) for _ in range(5000)])
        sender.start()
        time.sleep(1)
        got = 0
        slow.settimeout(5)
        while got < 5000 * 4004:
            chunk = slow.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        sender.join()
        record("%s: the late reader got its echoes" % name,
               got == 5000 * 4004, "%d bytes" % got)
        time.sleep(0.5)
        cpu0 = ngx.cpu()
        time.sleep(2)
        used = ngx.cpu() - cpu0
        le("%s: worker CPU while its sessions are idle" % name,
           round(used, 2), 0.1, " s in 2 s")
        for c in clients:
            c.once()
        record("%s: sessions still echo" % name, True, "3 echoes")
        for c in clients:
            c.close()
        slow.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_slab_pinning():
    """
    A queue is counted in 4 KB blocks, but a 64 KB slab stays mapped (and
    resident) while any one of its blocks is in use. A client whose echo
    takes one block while another session's takes the fifteen others of
    the slab, again and again, keeps every slab after the other session
    has closed: the worker holds sixteen times what the queues count.
    """
    name = "slab-pinning"
    ngx = Nginx(name, location="""
            ws_gateway_outbound_limit 64m;
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 60s;
            ws_gateway_ping_interval 0;
""").start()
    data = 3987                   # NGX_WS_GATEWAY_BLOCK_DATA, 64-bit
    steps = 300
    try:
        warm = Echo(ngx.port)
        warm.once()
        base = ngx.rss()

        def queued():
            return totals(ngx.status())["queued_bytes"]

        a = connect(ngx.port, rcvbuf=4096)
        b = connect(ngx.port, rcvbuf=4096)

        # both sockets full (the kernel takes megabytes on loopback), so
        # that what follows stays in the queues
        fill = frame(0x2, b"F" * (512 * KB))
        for s in (a, b):
            q0 = queued()
            for _ in range(64):
                s.sendall(fill)
                time.sleep(0.02)
                if queued() >= q0 + 1 * MB:
                    break
        time.sleep(0.2)

        # one block for a, fifteen for b, in turn: 4 bytes of header each
        one = frame(0x2, b"a" * (data - 4))
        fifteen = frame(0x2, b"b" * (15 * data - 4))
        for _ in range(steps):
            for s, msg, n in ((a, one, 1), (b, fifteen, 15)):
                q0 = queued()
                s.sendall(msg)
                wait_for(lambda: queued() >= q0 + n * 4 * KB, 2, 0.001)

        peak = ngx.rss()
        b.close()
        wait_for(lambda: totals(ngx.status())["sessions"]["active"] <= 2, 5)
        time.sleep(0.5)
        left = queued()
        after = ngx.rss()
        log("%s: a holds %.1f MB of blocks; workers %.1f MB over the "
            "baseline at the peak, %.1f MB after b closed"
            % (name, left / MB, (peak - base) / MB, (after - base) / MB))
        le("%s: memory after b closed, beyond what the queues count "
           "and the slabs kept" % name,
           round((after - base - left) / MB, 1), 4.0, " MB")
        a.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def uploads(port, n, fragments, size):
    """
    n clients that each start a binary message of `fragments` frames of
    `size` bytes, the last one not final, and never read: the message
    stays in the worker, being assembled. Returns the clients.
    """
    first = frame(0x2, b"U" * size, fin=False)
    more = frame(0x0, b"U" * size, fin=False)
    start = first + more * (fragments - 1)
    return Flood(port, n, start, max_bytes=len(start))


def recv_exactly(s, n, timeout):
    s.setblocking(True)
    s.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise OSError("eof after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def test_assembly_budget():
    """
    Messages being assembled are memory a client forces the worker to
    hold, as queues are: 60 clients each start a 960 KB message and stop
    before its end. The worker's budget (8 MB) must bound them, /status
    must show them, and a client that sends small messages is served.
    Then 30 of them go away, and the others complete their messages and
    read the echoes: the waiting sessions must go on (one at a time over
    the budget if need be), not wait for the send timeout.
    """
    name = "assembly-budget"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 8m;
""", location="""
            ws_gateway_outbound_limit 4m;
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 30s;
""").start()
    frags, size = 15, 64 * KB
    try:
        warm = Echo(ngx.port)
        warm.once()
        base = ngx.rss()
        # the budget, one message over it (the one let go on), per
        # session a read and a page; 4 MB for the rest of the worker
        bound = 8 * MB + 1 * MB + 60 * 32 * KB + 4 * MB
        peak = [base, 0]

        def probe():
            peak[0] = max(peak[0], ngx.rss())
            peak[1] = max(peak[1],
                          totals(ngx.status()).get("assembling_bytes", 0))
            return peak[0] - base > 3 * bound

        up = uploads(ngx.port, 60, frags, size)
        up.run(3, probe)
        time.sleep(0.5)
        probe()
        st = totals(ngx.status())
        log("%s: 60 clients sent %.1f MB of unfinished messages; workers "
            "grew %.1f MB; assembling_bytes %d (%d at most), paused %s, "
            "pauses %s" % (name, up.total() / MB, (peak[0] - base) / MB,
                           st.get("assembling_bytes", -1), peak[1],
                           st["sessions"]["paused"], st.get("pauses")))
        ge("%s: the uploads were real" % name, round(up.total() / MB, 1),
           50.0, " MB sent")
        le("%s: worker memory growth" % name, round((peak[0] - base) / MB, 1),
           round(bound / MB, 1), " MB")
        ge("%s: /status shows the messages being assembled" % name,
           round(peak[1] / MB, 1), 4.0, " MB")
        le("%s: assembling_bytes within the bound" % name,
           round(peak[1] / MB, 1), round((bound - 4 * MB) / MB, 1), " MB")
        ge("%s: sessions paused by the worker budget" % name,
           st.get("pauses", {}).get("worker", 0), 1)
        for _ in range(20):
            warm.once()
        le("%s: a client of small messages keeps its round trip" % name,
           round(max(warm.rtts) * 1000, 1), 200.0, " ms (max of 20)")

        # half of them go: the others complete their messages and read
        for s in up.socks[:30]:
            s.close()
        rest = up.socks[30:]
        last = frame(0x0, b"E" * 16, fin=True)
        want = frags * size + 16
        echo_len = want + 10                 # a 64-bit length header
        got, t0 = 0, time.time()
        errors = []
        for s in rest:
            s.setblocking(True)
            s.sendall(last)
        for s in rest:
            try:
                data = recv_exactly(s, echo_len, 20)
                if data[0] == 0x82 and len(data) == echo_len:
                    got += 1
            except OSError as e:
                errors.append(str(e))
        log("%s: %d of 30 echoes of %d bytes in %.1f s%s"
            % (name, got, want, time.time() - t0,
               "; " + errors[0] if errors else ""))
        ge("%s: the waiting sessions completed their messages" % name,
           got, 30)
        le("%s: before the send timeout" % name,
           round(time.time() - t0, 1), 15.0, " s")
        up.close()
        wait_for(lambda: totals(ngx.status())["sessions"]["active"] <= 1, 5)
        time.sleep(1)
        after = ngx.rss()
        st = totals(ngx.status())
        log("%s: %.1f MB over the baseline after the close; "
            "assembling_bytes %d" % (name, (after - base) / MB,
                                     st.get("assembling_bytes", -1)))
        le("%s: memory back near the baseline" % name,
           round((after - base) / MB, 1), 3.0, " MB")
        le("%s: nothing left assembling" % name,
           st.get("assembling_bytes"), 0)
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_assembly_overload():
    """
    Sessions that wait for the budget while nothing can free it (their
    clients stop in the middle of their messages) are closed with 1013
    after ws_gateway_send_timeout, their messages counted as dropped.
    """
    name = "assembly-overload"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 2s;
            ws_gateway_close_timeout 1s;
""").start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        up = uploads(ngx.port, 30, 15, 64 * KB)
        up.run(2)
        closed = wait_for(
            lambda: totals(ngx.status())["ends"].get("overload", 0) >= 1, 8)
        st = totals(ngx.status())
        log("%s: ends %s, drops %s, 1013 %s"
            % (name, st.get("ends"), st.get("drops"),
               st["close_codes"].get("1013")))
        record("%s: waiting sessions closed for the overload" % name,
               bool(closed), "ends.overload %s" % st["ends"].get("overload"))
        ge("%s: their messages counted as dropped" % name,
           st["drops"].get("overload", 0), st["ends"].get("overload", 1))
        le("%s: every session ended" % name,
           wait_for(lambda: totals(ngx.status())["sessions"]["active"] <= 1,
                    5) and totals(ngx.status())["sessions"]["active"], 1)
        ge("%s: with 1013" % name, st["close_codes"].get("1013", 0),
           st["ends"].get("overload", 1))
        warm.once()
        record("%s: another client is served" % name, True,
               "echo in %.1f ms" % (warm.rtts[-1] * 1000))
        up.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def test_assembly_reset(poll=False):
    """
    Four clients that do not read fill their queues (paused by their
    limit) beyond the worker's budget; then ten clients start messages
    and wait for the budget with them: nothing they hold could wake them,
    no write of theirs is pending, and their input is not read. They
    reset their connections: the sessions must end at once and give their
    memory back, not hold it until ws_gateway_send_timeout.  Under
    "use poll;" too (poll=True).
    """
    name, kw = variant("assembly-reset", poll)
    if name is None:
        return
    ngx = Nginx(name, **kw, http="""
    ws_gateway_worker_outbound_limit 6m;
""", location="""
            ws_gateway_outbound_limit 2m;
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 60s;
""").start()
    try:
        warm = Echo(ngx.port)
        warm.once()
        slow = Flood(ngx.port, 4, frame(0x2, b"S" * 100 * KB))
        slow.run(2)
        before = totals(ngx.status()).get("assembling_bytes", 0)
        up = uploads(ngx.port, 10, 12, 64 * KB)
        up.run(1)
        paused = wait_for(
            lambda: totals(ngx.status())["sessions"]["paused"] >= 14, 5)
        st = totals(ngx.status())
        record("%s: sessions waiting for the budget" % name, bool(paused),
               "paused %d, queued_bytes %d, assembling_bytes %s"
               % (st["sessions"]["paused"], st["queued_bytes"],
                  st.get("assembling_bytes")))
        for s in up.socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        t0 = time.time()
        up.close()
        ended = wait_for(
            lambda: totals(ngx.status())["sessions"]["active"] <= 5, 5, 0.05)
        st = totals(ngx.status())
        log("%s: active %d, assembling_bytes %s %.1f s after the resets"
            % (name, st["sessions"]["active"], st.get("assembling_bytes"),
               time.time() - t0))
        record("%s: the reset sessions ended" % name, bool(ended),
               "active %d (want 5) after %.1f s"
               % (st["sessions"]["active"], time.time() - t0))
        le("%s: their messages no longer held" % name,
           st.get("assembling_bytes"), before)
        warm.once()
        slow.close()
        warm.close()
        check_clean(ngx)
    finally:
        ngx.stop()


def big_frame(n):
    """A masked binary frame of n zero bytes, quick to build at any size."""
    mask = os.urandom(4)
    head = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + (mask * (n // 4 + 1))[:n]


def read_echo(s, n, timeout):
    """The server's answer to a message of n bytes: "echo" or the close."""
    try:
        head = recv_exactly(s, 2, timeout)
        if head[0] == 0x88:
            body = recv_exactly(s, head[1] & 0x7f, 2)
            return "close %d" % struct.unpack("!H", body[:2])[0]
        size = head[1] & 0x7f
        if size == 127:
            size = struct.unpack("!Q", recv_exactly(s, 8, timeout))[0]
        elif size == 126:
            size = struct.unpack("!H", recv_exactly(s, 2, timeout))[0]
        recv_exactly(s, size, timeout)
        return "echo" if head[0] == 0x82 and size == n else \
            "frame 0x%02x of %d bytes" % (head[0], size)
    except OSError as e:
        return "no answer: %s" % e


def test_exempt_stall():
    """
    Five clients hold 700 KB each of 1 MB messages, within the budget
    (4 MB); a sixth starts one, is paused over the budget and waits; the
    five send the rest of theirs and wait too. The waiters hold the
    budget between them, so the one that waited longest, the sixth, is
    let go on over it: it reads what it had sent and stalls. It must not
    keep that turn: the five must get their messages echoed, none of them
    closed with 1013 at ws_gateway_send_timeout.
    """
    name = "exempt-stall"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 4s;
            ws_gateway_close_timeout 1s;
""").start()
    size = 1000 * 1000
    socks = []
    try:
        msgs = []
        for i in range(5):
            s = connect(ngx.port)
            m = big_frame(size)
            s.sendall(m[:14 + 700 * KB])
            socks.append(s)
            msgs.append(m)
        held = wait_for(lambda: totals(ngx.status())["assembling_bytes"]
                        >= 5 * 700 * KB, 5)
        record("%s: five messages held within the budget" % name,
               bool(held), "assembling_bytes %s"
               % totals(ngx.status())["assembling_bytes"])

        staller = connect(ngx.port)
        socks.append(staller)
        staller.setblocking(False)
        m = big_frame(size)[:14 + 800 * KB]
        sent = 0
        deadline = time.time() + 3
        while sent < len(m) and time.time() < deadline:
            try:
                sent += staller.send(m[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        paused = wait_for(
            lambda: totals(ngx.status())["sessions"]["paused"] >= 1, 5)
        record("%s: the sixth waits for the budget" % name, bool(paused),
               "paused %d" % totals(ngx.status())["sessions"]["paused"])

        answers = [None] * 5

        def finish(i):
            try:
                socks[i].sendall(msgs[i][14 + 700 * KB:])
            except OSError as e:
                answers[i] = "send: %s" % e
                return
            answers[i] = read_echo(socks[i], size, 10)

        threads = [threading.Thread(target=finish, args=(i,))
                   for i in range(5)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        took = time.time() - t0
        time.sleep(1.5)           # a 1013 is counted when its session ends
        st = totals(ngx.status())
        log("%s: answers %s in %.1f s; ends %s" % (name, answers, took,
                                                   st.get("ends")))
        bad = [a for a in answers if a != "echo"]
        record("%s: the five messages were echoed" % name, not bad,
               "%d of 5 echoed in %.1f s%s"
               % (5 - len(bad), took, "; " + bad[0] if bad else ""))
        le("%s: none closed for the overload" % name,
           st["ends"].get("overload", 0), 0)
        check_clean(ngx)
    finally:
        for s in socks:
            s.close()
        ngx.stop()


def test_exempt_turns():
    """
    Ten clients each start a 1 MB message and stall part way, with more
    of it sent but not yet read when they are paused: each session in
    turn is let go on over the budget (4 MB), reads what its client had
    sent, and stalls, and its turn passes to the next. What the turns
    read stays held, so the turns together must not take the worker more
    than one message (1 MB) over its budget, plus a read per session.
    """
    name = "exempt-turns"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 4s;
            ws_gateway_close_timeout 1s;
""").start()
    size = 1000 * 1000
    socks = []
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                st = totals(ngx.status())
                peak[0] = max(peak[0], st["queued_bytes"]
                              + st["assembling_bytes"])
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)

    def push(s, data):
        s.setblocking(False)
        sent = 0
        deadline = time.time() + 2
        while sent < len(data) and time.time() < deadline:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    try:
        watcher.start()
        msgs = []
        for i in range(5):
            s = connect(ngx.port)
            m = big_frame(size)
            s.sendall(m[:14 + 700 * KB])
            socks.append(s)
            msgs.append(m)
        wait_for(lambda: totals(ngx.status())["assembling_bytes"]
                 >= 5 * 700 * KB, 5)
        for i in range(5):
            s = connect(ngx.port)
            socks.append(s)
            push(s, big_frame(size)[:14 + 900 * KB])
        for i in range(5):
            push(socks[i], msgs[i][14 + 700 * KB:14 + 950 * KB])
        turns = wait_for(
            lambda: totals(ngx.status())["ends"].get("overload", 0) >= 1, 10)
        record("%s: the stalled sessions met their deadline" % name,
               bool(turns), "ends.overload %s"
               % totals(ngx.status())["ends"].get("overload"))
        wait_for(lambda: totals(ngx.status())["sessions"]["active"] == 0, 10)
        stop.set()
        watcher.join()
        st = totals(ngx.status())
        log("%s: peak held %.2f MB; ends.overload %s, pauses %s"
            % (name, peak[0] / MB, st["ends"].get("overload"),
               st.get("pauses")))
        le("%s: held at the peak: the budget (4 MB) and an eighth, one "
           "1 MB message, a read and a block per session" % name,
           round(peak[0] / MB, 2),
           round((4.5 * MB + 1 * MB + 10 * 20 * KB) / MB, 2), " MB")
        check_clean(ngx)
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        for s in socks:
            s.close()
        ngx.stop()


def test_exempt_runnable(poll=False):
    """
    One client sends a large message as fast as it can, alone over the
    budget (1 MB): it waits, is let go on over the budget, and reads
    on, always with input left after its turn, so that it is in the run
    queue when its turn over the budget ends (a quarter of
    ws_gateway_send_timeout).  Passing the turn on must not put the
    session among the waiting while it is still in the run queue: the
    worker must not crash or spin, and the session must end.  Under
    "use poll;" too (poll=True).
    """
    name, kw = variant("exempt-runnable", poll)
    if name is None:
        return
    ngx = Nginx(name, **kw, http="""
    ws_gateway_worker_outbound_limit 1m;
""", location="""
            ws_gateway_max_message_size 64m;
            ws_gateway_send_timeout 200ms;
            ws_gateway_close_timeout 1s;
""").start()
    socks = []
    try:
        s = connect(ngx.port)
        socks.append(s)
        m = big_frame(48 * MB)
        s.setblocking(False)
        sent = 0
        deadline = time.time() + 5
        while sent < len(m) and time.time() < deadline:
            try:
                sent += s.send(m[sent:sent + MB])
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                break
        log("%s: sent %.1f of %.1f MB" % (name, sent / MB, len(m) / MB))
        s.close()
        ended = wait_for(
            lambda: totals(ngx.status())["sessions"]["active"] == 0, 5)
        st = totals(ngx.status())
        record("%s: the session ended" % name, bool(ended),
               "active %d, paused %d, runnable %s"
               % (st["sessions"]["active"], st["sessions"]["paused"],
                  st["sessions"].get("runnable")))
        c0 = ngx.cpu()
        time.sleep(1)
        c1 = ngx.cpu()
        le("%s: the idle worker does not spin" % name,
           round(c1 - c0, 2), 0.2, " s of CPU in 1 s")
        check_clean(ngx)
    finally:
        for s in socks:
            s.close()
        ngx.stop()


def test_waiting_close():
    """
    A client that does not read fills its queue to the worker's budget
    (1 MB); another starts a message in fragments, goes an eighth over
    the budget and waits for it.  Its idle timeout closes it: the close
    frame goes out, and the client answers with its own, between two
    fragments.  The session must read that answer and end, not stay
    paused among the waiting until ws_gateway_close_timeout (8 s).
    """
    name = "waiting-close"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 1m;
""", location="""
            ws_gateway_outbound_limit 4m;
            ws_gateway_send_timeout 30s;
            ws_gateway_close_timeout 8s;

            location /ws/idle {
                ws_gateway_pass builtin:echo;
                ws_gateway_idle_timeout 1s;
            }
""").start()
    socks = []
    try:
        slow = Flood(ngx.port, 1, frame(0x2, b"S" * 100 * KB))
        socks.extend(slow.socks)
        slow.run(1.5)
        s = connect(ngx.port, path="/ws/idle")
        socks.append(s)
        s.setblocking(False)
        data = frame(0x2, b"U" * 64 * KB, fin=False) \
            + frame(0x0, b"U" * 64 * KB, fin=False) * 6
        sent = 0
        deadline = time.time() + 0.8
        while sent < len(data) and time.time() < deadline:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        paused = wait_for(
            lambda: totals(ngx.status())["sessions"]["paused"] >= 2, 1, 0.05)
        st = totals(ngx.status())
        record("%s: the second waits for the budget" % name, bool(paused),
               "paused %d, queued_bytes %d, assembling_bytes %d"
               % (st["sessions"]["paused"], st["queued_bytes"],
                  st["assembling_bytes"]))
        answer = read_echo(s, 0, 5)
        record("%s: closed for the idle timeout" % name,
               answer == "close 1000", answer)
        s.setblocking(True)
        s.sendall(data[sent:] + frame(0x8, struct.pack("!H", 1000)))
        t0 = time.time()
        s.settimeout(10)
        try:
            eof = s.recv(4096) == b""
        except OSError as e:
            eof = "recv: %s" % e
        took = time.time() - t0
        record("%s: the client's close answered at once" % name,
               eof is True and took < 4,
               "eof %s after %.1f s (close timeout 8 s)" % (eof, took))
        st = totals(ngx.status())
        le("%s: no message counted as dropped for the overload" % name,
           st["drops"].get("overload", 0), 0)
        check_clean(ngx)
    finally:
        for s in socks:
            s.close()
        ngx.stop()


def test_stalled_holders(trickle=False):
    """
    Four clients start 1 MB messages, send 950 KB of each, within the
    worker's budget (4 MB), and stall: they are never paused, so they
    are not among the waiting.  A fifth client then sends a whole 1 MB
    message: it goes over the budget, is paused and waits, and what it
    holds is too little for a turn over the budget.  The stalled
    sessions, whose messages began first, must meet
    ws_gateway_send_timeout, not the one that sends its message whole:
    the fifth's message must be echoed.  With `trickle`, the four send
    a byte of their messages every 0.3 s, which must not keep the fifth
    from its message either.
    """
    name = "stalled-trickle" if trickle else "stalled-holders"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 2s;
            ws_gateway_close_timeout 1s;
""").start()
    size = 1000 * 1000
    socks = []
    try:
        for i in range(4):
            s = connect(ngx.port)
            s.sendall(big_frame(size)[:14 + 950 * 1000])
            socks.append(s)
        held = wait_for(lambda: totals(ngx.status())["assembling_bytes"]
                        >= 4 * 950 * 1000, 5)
        st = totals(ngx.status())
        record("%s: four messages held within the budget" % name,
               bool(held), "assembling_bytes %d, paused %d"
               % (st["assembling_bytes"], st["sessions"]["paused"]))
        stop = threading.Event()

        def drip():
            while not stop.wait(0.3):
                for h in socks[:4]:
                    try:
                        h.send(b"\0")
                    except OSError:
                        pass

        dripper = threading.Thread(target=drip)
        if trickle:
            dripper.start()
        s = connect(ngx.port)
        socks.append(s)
        answer = [None]

        def send_whole():
            try:
                s.sendall(big_frame(size))
            except OSError as e:
                answer[0] = "send: %s" % e

        t = threading.Thread(target=send_whole)
        t0 = time.time()
        t.start()
        got = read_echo(s, size, 12)
        t.join(5)
        took = time.time() - t0
        stop.set()
        if trickle:
            dripper.join()
        st = totals(ngx.status())
        log("%s: the fifth: %s after %.1f s; ends %s, active %d"
            % (name, got, took, st.get("ends"), st["sessions"]["active"]))
        record("%s: the message sent whole is echoed" % name,
               got == "echo", "%s after %.1f s" % (answer[0] or got, took))
        check_clean(ngx)
    finally:
        for s in socks:
            s.close()
        ngx.stop()


def test_stalled_mixed(poll=False):
    """
    As stalled-holders, with the first holder in a location whose
    ws_gateway_send_timeout is long (30 s): its message began first, and
    the three after it, in /ws (2 s), must still meet their own deadline
    while the fifth waits: its message must be echoed well before the
    first holder's deadline.  Under "use poll;" too (poll=True), where
    the overload timer also probes the waiting once a second.
    """
    name, kw = variant("stalled-mixed", poll)
    if name is None:
        return
    ngx = Nginx(name, **kw, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 2s;
            ws_gateway_close_timeout 1s;
        }

        location /wslong {
            ws_gateway_pass builtin:echo;
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 30s;
            ws_gateway_close_timeout 1s;
""").start()
    size = 1000 * 1000
    socks = []
    try:
        for i in range(4):
            s = connect(ngx.port, path="/wslong" if i == 0 else "/ws")
            s.sendall(big_frame(size)[:14 + 950 * 1000])
            socks.append(s)
            wait_for(lambda: totals(ngx.status())["assembling_bytes"]
                     >= (i + 1) * 950 * 1000, 5)
        held = totals(ngx.status())["assembling_bytes"] >= 4 * 950 * 1000
        record("%s: four messages held within the budget" % name,
               held, "assembling_bytes %d"
               % totals(ngx.status())["assembling_bytes"])
        s = connect(ngx.port)
        socks.append(s)
        answer = [None]

        def send_whole():
            try:
                s.sendall(big_frame(size))
            except OSError as e:
                answer[0] = "send: %s" % e

        t = threading.Thread(target=send_whole)
        t0 = time.time()
        t.start()
        got = read_echo(s, size, 12)
        t.join(5)
        took = time.time() - t0
        st = totals(ngx.status())
        log("%s: the fifth: %s after %.1f s; ends %s, active %d"
            % (name, got, took, st.get("ends"), st["sessions"]["active"]))
        record("%s: the message sent whole is echoed" % name,
               got == "echo" and took < 10,
               "%s after %.1f s" % (answer[0] or got, took))
        check_clean(ngx)
    finally:
        for s in socks:
            s.close()
        ngx.stop()


def test_quit_states():
    """
    A graceful quit while the budget holds sessions back: one whose
    client does not read (paused, its queue full), two waiting for the
    budget with a message begun, and one sending a message as fast as
    it can.  The worker must close them all and exit within
    ws_gateway_close_timeout (1 s) and a margin, not crash, and not
    wait for ws_gateway_send_timeout (30 s).
    """
    name = "quit-states"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 1m;
""", location="""
            ws_gateway_outbound_limit 4m;
            ws_gateway_max_message_size 16m;
            ws_gateway_send_timeout 30s;
            ws_gateway_close_timeout 1s;
""").start()
    socks = []
    stop = threading.Event()
    try:
        slow = Flood(ngx.port, 1, frame(0x2, b"S" * 100 * KB))
        socks.extend(slow.socks)
        slow.run(1.0)
        for i in range(2):
            s = connect(ngx.port)
            socks.append(s)
            s.sendall(frame(0x2, b"U" * 64 * KB, fin=False) * 1)
            s.sendall(frame(0x0, b"U" * 64 * KB, fin=False) * 3)
        fast = connect(ngx.port)
        socks.append(fast)

        def pump():
            chunk = frame(0x2, b"F" * 60 * KB, fin=False)
            more = frame(0x0, b"F" * 60 * KB, fin=False)
            try:
                fast.sendall(chunk)
                while not stop.is_set():
                    fast.sendall(more)
            except OSError:
                pass

        t = threading.Thread(target=pump)
        t.start()
        time.sleep(0.5)
        st = totals(ngx.status())
        log("%s: before the quit: %s, queued %d, assembling %d"
            % (name, st["sessions"], st["queued_bytes"],
               st["assembling_bytes"]))
        workers = ngx.workers()
        t0 = time.time()
        os.kill(ngx.master, signal.SIGQUIT)
        gone = wait_for(lambda: not any(os.path.exists("/proc/%d" % w)
                                        for w in workers), 10, 0.05)
        took = time.time() - t0
        record("%s: the worker exits" % name, bool(gone) and took < 5,
               "in %.1f s (close timeout 1 s, send timeout 30 s)" % took)
        stop.set()
        t.join(5)
        check_clean(ngx)
    finally:
        stop.set()
        for s in socks:
            s.close()
        ngx.stop()


def test_exempt_room():
    """
    The session let go on over the budget waits, exempt, while earlier
    turns hold a message over it: six clients fill the budget (4 MB)
    with messages begun, two more (x, then y) start theirs and wait,
    the first four wait too; the turns go to the fifth and sixth (which
    stall), to x (which reads 990 KB over the budget and stalls) and to
    y, which stops at once, the turns holding a message over the
    budget.  Then four of the six reset their connections: the worker
    is back within its budget and every waiting session reads again, y
    too.  y must not keep its overload deadline (8 s from when it began
    waiting): its client sends the rest of its message slowly and must
    get its echo, not a 1013 ("server overloaded").
    """
    name = "exempt-room"
    ngx = Nginx(name, http="""
    ws_gateway_worker_outbound_limit 4m;
""", location="""
            ws_gateway_max_message_size 1m;
            ws_gateway_send_timeout 8s;
            ws_gateway_close_timeout 1s;
""").start()
    size = 1000 * 1000
    socks = []

    def st():
        return totals(ngx.status())

    try:
        fill = []
        for i in range(6):
            c = connect(ngx.port)
            c.sendall(big_frame(size)[:14 + (900 if i < 4 else 520) * 1000])
            fill.append(c)
            socks.append(c)
            time.sleep(0.1)
        time.sleep(0.3)
        x = connect(ngx.port)
        socks.append(x)
        x.setblocking(False)
        xm = big_frame(size)[:14 + 990 * 1000]
        y = connect(ngx.port)
        socks.append(y)
        ym = big_frame(size)
        xs = 0
        deadline = time.time() + 1
        while xs < len(xm) and time.time() < deadline:
            try:
                xs += x.send(xm[xs:])
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(0.3)
        y.setblocking(False)
        ys = 0
        deadline = time.time() + 1
        while ys < 14 + 700 * 1000 and time.time() < deadline:
            try:
                ys += y.send(ym[ys:14 + 700 * 1000])
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(0.3)
        log("%s: before the turns: %s, assembling %d"
            % (name, st()["sessions"], st()["assembling_bytes"]))
        # the four first push a little more, so that they wait too
        for c in fill[:4]:
            c.sendall(big_frame(size)[14:14 + 10 * 1000])
        time.sleep(5)
        log("%s: after the turns: %s, assembling %d"
            % (name, st()["sessions"], st()["assembling_bytes"]))
        for c in fill[:4]:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            c.close()
        time.sleep(0.5)
        log("%s: after the closes: %s, assembling %d, queued %d"
            % (name, st()["sessions"], st()["assembling_bytes"],
               st()["queued_bytes"]))
        y.setblocking(True)
        rest = ym[ys:]
        t0 = time.time()
        try:
            for i in range(0, len(rest), 20 * 1000):
                y.sendall(rest[i:i + 20 * 1000])
                time.sleep(0.5)
        except OSError as e:
            log("%s: send: %s" % (name, e))
        got = read_echo(y, size, 5)
        log("%s: %s after %.1f s; ends %s" % (name, got, time.time() - t0,
                                             st().get("ends")))
        record("%s: the slow sender within the budget gets its echo" % name,
               got == "echo", got)
        check_clean(ngx)
    finally:
        for c in socks:
            c.close()
        ngx.stop()


def test_bulk_fairness():
    """
    300 clients send 4 KB messages as fast as they can and read their
    echoes (no memory pressure): each gets a bounded turn, and a pass of
    the event loop serves the run queue of those with input left only up
    to a bound, so the worker gets back to its timers and to the other
    sessions within a few milliseconds, whatever the number of bulk
    senders. Loop lag (status) and another client's echo are measured.
    """
    name = "bulk-fairness"
    if not ARGS.loadgen:
        record(name, False, "no ws-load given (t/flood/run.sh builds it)")
        return
    ngx = Nginx(name, location="""
            ws_gateway_outbound_limit 1m;
""").start()
    bulk = None
    try:
        warm = Echo(ngx.port)
        warm.once()
        bulk = subprocess.Popen(
            ["nice", "-n", "10", ARGS.loadgen, "flood", "-q", "-c", "300",
             "-s", "4096", "--binary", "-d", "9",
             "ws://127.0.0.1:%d/ws" % ngx.port],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wait_for(lambda: totals(ngx.status())["sessions"]["active"] >= 301,
                 5)
        time.sleep(1.5)
        st0 = totals(ngx.status())
        t0 = time.time()
        runnable = 0
        warm.rtts = []
        while time.time() - t0 < 5:
            warm.once()
            if len(warm.rtts) % 20 == 0:
                runnable = max(runnable, totals(ngx.status())["sessions"]
                               .get("runnable", 0))
            time.sleep(0.01)
        elapsed = time.time() - t0
        st = ngx.status()
        t = st["totals"]
        lag = st["workers"][0]["windows"]["1s"]["loop_lag_us"]["max"]
        mbs = (t["counters"]["bytes_in"] - st0["counters"]["bytes_in"]) \
            / elapsed / MB
        rtts = sorted(warm.rtts)
        p99 = rtts[int(len(rtts) * 0.99)] * 1000
        log("%s: bulk %.0f MB/s in; echo p50 %.2f ms p99 %.2f ms max %.2f "
            "ms over %d; loop lag max %s us (1 s window); runnable up to %d"
            % (name, mbs, rtts[len(rtts) // 2] * 1000, p99, rtts[-1] * 1000,
               len(rtts), lag, runnable))
        ge("%s: the bulk load was real" % name, round(mbs), 20, " MB/s")
        ge("%s: sessions waited in the run queue" % name, runnable, 1)
        le("%s: loop lag max under bulk load" % name, lag, 3000, " us")
        # the loop lag above is the worker's own figure, bound tightly;
        # this one adds the client's scheduling on a machine the bulk
        # load fills (2 CPUs here) and is the 5th worst of ~500 samples:
        # its bound leaves room for that (5 ms failed now and then)
        le("%s: another client's echo p99" % name, round(p99, 2), 10.0,
           " ms")
        warm.close()
        bulk.wait(timeout=20)
        check_clean(ngx)
    finally:
        if bulk and bulk.poll() is None:
            bulk.kill()
            bulk.wait()
        ngx.stop()


TESTS = [
    ("tiny-pings", test_tiny_pings),
    ("tiny-messages", test_tiny_messages),
    ("pings-125", test_ping_125),
    ("release", test_release),
    ("worker-budget", test_worker_budget),
    ("loop-fairness", test_loop_fairness),
    ("poll-idle", test_poll_idle_cpu),
    ("slab-pinning", test_slab_pinning),
    ("assembly-budget", test_assembly_budget),
    ("assembly-overload", test_assembly_overload),
    ("assembly-reset", test_assembly_reset),
    ("assembly-reset-poll", lambda: test_assembly_reset(poll=True)),
    ("exempt-stall", test_exempt_stall),
    ("exempt-turns", test_exempt_turns),
    ("exempt-runnable", test_exempt_runnable),
    ("exempt-runnable-poll", lambda: test_exempt_runnable(poll=True)),
    ("waiting-close", test_waiting_close),
    ("stalled-holders", test_stalled_holders),
    ("stalled-trickle", lambda: test_stalled_holders(trickle=True)),
    ("stalled-mixed", test_stalled_mixed),
    ("stalled-mixed-poll", lambda: test_stalled_mixed(poll=True)),
    ("quit-states", test_quit_states),
    ("exempt-room", test_exempt_room),
    ("bulk-fairness", test_bulk_fairness),
]


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--poll-nginx")
    ap.add_argument("--poll-module")
    ap.add_argument("--module", required=True)
    ap.add_argument("--loadgen")
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=2600)
    ARGS = ap.parse_args()

    def on_signal(signum, frame_):
        for n in list(RUNNING):
            n.stop()
        sys.exit(130)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        for name, fn in TESTS:
            if ONLY and ONLY not in name:
                continue
            t0 = time.time()
            log("--- " + name)
            try:
                fn()
            except Exception as e:       # a test that breaks is a failure
                record(name, False, "%s: %s" % (type(e).__name__, e))
            log("%s took %.1f s" % (name, time.time() - t0))
    finally:
        for n in list(RUNNING):
            n.stop()

    print("flood: %d passed, %d failed" % (PASSED, FAILED), flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
