#!/usr/bin/python3
"""
Truthfulness tests of the ngx_ws_gateway_module metrics: the test makes
the ground truth (sessions, rates, a stall of known length, drops,
handshake results), and the status handler must report exactly that.

Started by t/metrics/run.sh, which builds what is needed and passes the
paths.  Each check prints "PASS metrics <name>: ..." or "FAIL metrics
<name>: ...", and the last line is "metrics: N passed, M failed".

Needs Python 3.9+ with the standard library only (Debian's /usr/bin/python3).
"""

import argparse
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


ARGS = None
PASSED = 0
FAILED = 0
BREAK = os.environ.get("METRICS_BREAK", "")    # see break_() below
ONLY = os.environ.get("METRICS_ONLY", "")
RUNNING = []                                   # nginx instances to stop
LOADS = []                                     # ws-load runs to stop


def log(msg):
    print("# " + msg, flush=True)


# --- checks ------------------------------------------------------------------

def breaking(name):
    """
    METRICS_BREAK=substring: the checks whose name has it get a wrong
    expectation on purpose, to show that they can fail (and that a failure
    reaches the closing line and the exit code).
    """
    return bool(BREAK) and BREAK in name


def record(name, ok, detail):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS metrics %s: %s" % (name, detail), flush=True)
    else:
        FAILED += 1
        print("FAIL metrics %s: %s" % (name, detail), flush=True)
    return ok


def eq(name, got, want):
    if breaking(name):
        want = want + 1 if isinstance(want, (int, float)) else ("~" + str(want))
    return record(name, got == want, "got %r, want %r" % (got, want))


def within(name, got, want, rel):
    if breaking(name):
        want = want * (1 + 2.5 * rel)
    ok = got is not None and abs(got - want) <= rel * want
    return record(name, ok, "got %s, want %s +- %d %%"
                  % (got, want, round(rel * 100)))


def ge(name, got, lo):
    if breaking(name):
        lo = (got or 0) * 2 + 1
    ok = got is not None and got >= lo
    return record(name, ok, "got %s, want >= %s" % (got, lo))


def le(name, got, hi):
    if breaking(name):
        hi = (got or 0) / 2 - 1
    ok = got is not None and got <= hi
    return record(name, ok, "got %s, want <= %s" % (got, hi))


def true(name, ok, detail):
    if breaking(name):
        ok = not ok
    return record(name, bool(ok), detail)


# --- nginx -------------------------------------------------------------------

class Nginx:
    """One NGINX under build/metrics-test/<name>, master process on."""

    def __init__(self, name, port, workers=2, module=None, http="",
                 location="", worker_connections=4096, master=True):
        self.name = name
        self.port = port
        self.prefix = os.path.join(ARGS.out, name)
        self.module = module or ARGS.module
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.pidfile = os.path.join(self.prefix, "nginx.pid")
        self.error_log = os.path.join(self.prefix, "logs", "error.log")
        self.master = None
        self.master_process = master
        self.worker_connections = worker_connections

        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        for f in (self.error_log, self.pidfile):
            if os.path.exists(f):
                os.unlink(f)
        self.write_conf(workers, http, location)
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)

    def write_conf(self, workers, http="", location=""):
        with open(self.conf, "w") as f:
            f.write("""# written by t/metrics/metrics_test.py
load_module %(module)s;
master_process %(master)s;
daemon on;
worker_processes %(workers)d;
worker_rlimit_nofile 20000;
pid %(pidfile)s;
error_log %(error_log)s info;

events {
    worker_connections %(wc)d;
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

        location /v {
            return 200 "$ws_gateway_active $ws_gateway_idle $ws_gateway_handshaking $ws_gateway_draining\\n";
        }
    }
}
""" % dict(module=self.module, workers=workers, pidfile=self.pidfile,
           error_log=self.error_log, wc=self.worker_connections,
           prefix=self.prefix, http=http, port=self.port, location=location,
           master="on" if self.master_process else "off"))

    def reload(self, workers, http="", location=""):
        """Rewrites the configuration and sends SIGHUP to the master."""
        self.write_conf(workers, http, location)
        os.kill(self.master, signal.SIGHUP)

    def start(self, listed=None):
        """listed: the workers the status must list (default: all)."""
        r = subprocess.run([ARGS.nginx, "-p", self.prefix, "-c", self.conf],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("nginx %s did not start: %s"
                               % (self.name, r.stderr.strip()))
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                with open(self.pidfile) as f:
                    self.master = int(f.read().strip())
                RUNNING.append(self)
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        if self.master is None:
            raise RuntimeError("nginx %s wrote no pid file" % self.name)
        # up: every worker forked and reporting (a worker claims its
        # metrics slot in its init_process, just after the fork)
        want = self.nworkers_conf()
        while time.time() < deadline:
            if not self.master_process or len(self.workers()) == want:
                try:
                    st = self.status()
                    if st is not None and len(st["workers"]) == (listed or want):
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("nginx %s did not come up" % self.name)

    def nworkers_conf(self):
        if not self.master_process:
            return 1
        with open(self.conf) as f:
            return int(re.search(r"worker_processes (\d+);", f.read()).group(1))

    def workers(self):
        """The worker pids, from the process table (ground truth)."""
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.master)],
                           capture_output=True, text=True)
        return sorted(int(x) for x in r.stdout.split())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, timeout=5):
        req = urllib.request.Request(self.url(path),
                                     headers={"Connection": "close"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()

    def status(self):
        status, _, body = self.get("/status?format=json")
        if status != 200:
            return None
        return json.loads(body)

    def stop(self):
        if self.master is None:
            return
        try:
            os.kill(self.master, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists("/proc/%d" % self.master):
            time.sleep(0.02)
        if os.path.exists("/proc/%d" % self.master):
            os.kill(self.master, signal.SIGKILL)
        if self in RUNNING:
            RUNNING.remove(self)
        self.master = None

    def log_problems(self):
        """[alert], [crit], [emerg] lines and workers dead on a signal."""
        bad = []
        try:
            with open(self.error_log, errors="replace") as f:
                for line in f:
                    if re.search(r"\[(alert|crit|emerg)\]|exited on signal", line):
                        bad.append(line.strip())
        except OSError:
            pass
        return bad


def check_log(ngx):
    bad = ngx.log_problems()
    true("%s: error.log clean" % ngx.name, not bad,
         "no [alert]/[crit]/[emerg] or worker crash" if not bad
         else "; ".join(bad[:3]))


# --- status helpers ----------------------------------------------------------

def worker_map(st):
    return {w["pid"]: w for w in st["workers"]}


def total(st, *path):
    """A value summed over the workers (the test's own sum, not "totals")."""
    s = 0
    for w in st["workers"]:
        v = w
        for p in path:
            v = v.get(p, 0) if isinstance(v, dict) else 0
        s += v
    return s


def wait_for(fn, timeout, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


# --- ground truth from the kernel -----------------------------------------------

def established_by_pid(port):
    """Established server-side sockets of port, per owning process (ss)."""
    r = subprocess.run(["ss", "-tnpH", "state", "established",
                        "( sport = :%d )" % port],
                       capture_output=True, text=True)
    count = {}
    lines = 0
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        lines += 1
        pids = set(int(p) for p in re.findall(r"pid=(\d+)", line))
        for p in pids:
            count[p] = count.get(p, 0) + 1
    return count, lines


# --- load generator ----------------------------------------------------------

class Load:
    """build/loadgen/ws-load in the background, its stderr watched."""

    def __init__(self, *args):
        self.cmd = [ARGS.loadgen] + [str(a) for a in args]
        self.ready = threading.Event()
        self.ready_line = None
        self.stderr = []
        self.started = time.time()
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        LOADS.append(self)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            self.stderr.append(line.rstrip())
            if "ws-load: ready:" in line:
                self.ready_line = line.strip()
                self.ready.set()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)

    def result(self, timeout=30):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        self.t.join(1)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            log("ws-load printed no JSON; stderr: %s" % " | ".join(self.stderr[-5:]))
            return None


# --- a raw WebSocket client: frames exactly as the test wants them ------------

class Raw:
    def __init__(self, port, timeout=5):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def request(self, text):
        """Sends raw HTTP, returns the status code of the answer."""
        self.s.sendall(text.encode())
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d{3})", head)
        return int(m.group(1)) if m else None

    def handshake(self, path="/ws"):
        key = base64.b64encode(os.urandom(16)).decode()
        return self.request(
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key))

    def send_frame(self, opcode, payload=b"", masked=True, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if masked else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
            head += mask
        self.s.sendall(head + payload)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def recv_frame(self):
        """(opcode, payload) of the next server frame (unmasked)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7f
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0f, payload

    def eof(self, timeout=3):
        """True when the server closes the connection within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except (socket.timeout, ConnectionError):
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# --- 1. sessions across workers ------------------------------------------------

def test_sessions():
    n = 2000
    port = ARGS.port + 1
    ngx = Nginx("sessions", port, workers=2,
                http="    ws_gateway_idle_window 2s;").start()
    try:
        before = ngx.status()
        true("sessions: status lists the real workers",
             sorted(w["pid"] for w in before["workers"]) == ngx.workers(),
             "status pids %s, ps %s" % (sorted(w["pid"] for w in before["workers"]),
                                         ngx.workers()))

        load = Load("idle", "ws://127.0.0.1:%d/ws" % port, "-c", n, "-P", 2,
                    "-d", 7, "-q", "--handshake-timeout", 5)
        if not load.ready.wait(10):
            true("sessions: ws-load ready", False, "no ready line")
            load.stop()
            load.result()
            return
        log(load.ready_line)

        # every session established: the gauge settles at exactly n
        st = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == n
                               and s["totals"]["sessions"]["handshaking"] == 0
                               else None)(ngx.status()), 3)
        young = time.time() - load.started
        truth, lines = established_by_pid(port)
        st = st or ngx.status()
        workers = worker_map(st)

        eq("sessions: totals.sessions.active == N", st["totals"]["sessions"]["active"], n)
        eq("sessions: sum of the workers' active == N", total(st, "sessions", "active"), n)
        eq("sessions: established sockets (ss) == N", lines, n)
        for pid in ngx.workers():
            w = workers.get(pid, {"sessions": {"active": None}, "worker": "?"})
            eq("sessions: worker %s (pid %d) active == its established sockets"
               % (w["worker"], pid), w["sessions"]["active"], truth.get(pid, 0))
        log("per worker (pid: reported/ss): " + ", ".join(
            "%d: %s/%d" % (pid, workers.get(pid, {}).get("sessions", {}).get("active"),
                           truth.get(pid, 0)) for pid in ngx.workers()))
        eq("sessions: totals.sessions.handshaking == 0", st["totals"]["sessions"]["handshaking"], 0)

        status, _, body = ngx.get("/v")
        eq("sessions: $ws_gateway_active == N", int(body.split()[0]), n)

        # idle: sessions younger than the 2 s window are not idle ...
        if young < 1.8:
            eq("sessions: idle == 0 while every session is younger than the window",
               st["totals"]["sessions"]["idle"], 0)
        else:
            log("ramp took %.1f s: the idle == 0 check is skipped" % young)

        # ... and after 3+ s without a message, every one of them is
        sleep_until(load.started + young + 3.2)
        st = ngx.status()
        eq("sessions: idle == active after 3 s without messages (totals)",
           st["totals"]["sessions"]["idle"], n)
        for w in st["workers"]:
            eq("sessions: worker %s idle == active" % w["worker"],
               w["sessions"]["idle"], w["sessions"]["active"])

        res = load.result(timeout=20)
        if res:
            eq("sessions: ws-load established == N", res["counters"]["established"], n)
        st = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 0
                               else None)(ngx.status()), 5) or ngx.status()
        eq("sessions: active == 0 after the clients closed", st["totals"]["sessions"]["active"], 0)
        eq("sessions: idle == 0 after the clients closed", st["totals"]["sessions"]["idle"], 0)
        eq("sessions: accepts == N", total(st, "counters", "accepts"), n)
        eq("sessions: closes == N", total(st, "counters", "closes"), n)
        eq("sessions: handshakes.accepted == N", total(st, "handshakes", "accepted"), n)
    finally:
        ngx.stop()
    check_log(ngx)


# --- 2. rates ----------------------------------------------------------------

def test_rates():
    rate = 200
    msg_rate = 300
    ramp = 14                       # seconds of connects at `rate`
    port = ARGS.port + 2
    ngx = Nginx("rates", port, workers=2,
                location="            ws_gateway_idle_timeout 1s;").start()
    try:
        load = Load("idle", "ws://127.0.0.1:%d/ws" % port, "-c", rate * ramp,
                    "-r", rate, "-d", ramp + 3, "-q")
        t0 = load.started
        # and messages at a known rate, over 4 sessions that never idle
        echo = Load("echo", "ws://127.0.0.1:%d/ws" % port, "-c", 4,
                    "-R", msg_rate, "-d", ramp + 3, "-q")

        # Steady state: accepts from t0, closes (1 s idle timeout) from
        # t0 + 1; both go on until t0 + ramp (+1).  The 10 s window ends at
        # the workers' last tick U and starts at U - 10: take the first U
        # with U - 10 >= t0 + 2, which ends well before t0 + ramp.
        u = int(t0) + 1 + 2 + 10
        sleep_until(u + 0.15)
        st = wait_for(lambda: (lambda s: s if all(w["updated"] >= u for w in s["workers"])
                               else None)(ngx.status()), 1.5) or ngx.status()
        sampled = time.time()
        ends = [w["updated"] for w in st["workers"]]
        true("rates: the window lies in the steady state",
             min(ends) - 10 >= t0 + 1.5 and max(ends) <= t0 + ramp,
             "t0 %.2f, windows end at %s (t0 + %s)"
             % (t0, ends, [round(e - t0, 2) for e in ends]))

        acc = sum(w["windows"]["10s"]["accepts_per_s"] for w in st["workers"])
        clo = sum(w["windows"]["10s"]["closes_per_s"] for w in st["workers"])
        log("10 s window at t0 + %.1f s: accepts %.1f/s, closes %.1f/s (workers: %s)"
            % (sampled - t0, acc, clo, ", ".join(
                "%s: %.1f/%.1f" % (w["worker"], w["windows"]["10s"]["accepts_per_s"],
                                   w["windows"]["10s"]["closes_per_s"])
                for w in st["workers"])))
        for k in ("1s", "60s"):
            log("%s window: accepts %.1f/s, closes %.1f/s, churn %.1f/s" % (
                k, sum(w["windows"][k]["accepts_per_s"] for w in st["workers"]),
                sum(w["windows"][k]["closes_per_s"] for w in st["workers"]),
                sum(w["windows"][k]["churn_per_s"] for w in st["workers"])))

        within("rates: 10 s accepts/s (sum over workers) == R", acc, rate, 0.10)
        within("rates: 10 s closes/s (sum over workers) == R", clo, rate, 0.10)
        churn = sum(w["windows"]["10s"]["churn_per_s"] for w in st["workers"])
        within("rates: 10 s churn/s == accepts/s + closes/s", churn, acc + clo, 0.01)
        min_ = sum(w["windows"]["10s"]["messages_in_per_s"] for w in st["workers"])
        mout = sum(w["windows"]["10s"]["messages_out_per_s"] for w in st["workers"])
        log("10 s window: messages in %.1f/s, out %.1f/s" % (min_, mout))
        within("rates: 10 s messages in/s == the echo load's rate", min_, msg_rate, 0.10)
        within("rates: 10 s messages out/s == the echo load's rate", mout, msg_rate, 0.10)
        within("rates: totals 10 s accepts/s == sum over workers",
               st["totals"]["windows"]["10s"]["accepts_per_s"], acc, 0.01)
        within("rates: totals 10 s closes/s == sum over workers",
               st["totals"]["windows"]["10s"]["closes_per_s"], clo, 0.01)

        # every connection tried (none left in its handshake): the
        # client's count of sessions is exact, and the run can end early
        load.ready.wait(ramp + 3 - (time.time() - t0))
        load.stop()
        echo.stop()
        eres = echo.result(timeout=15)
        res = load.result(timeout=15)
        if eres:
            log("ws-load echo: %d messages sent, %d echoes received"
                % (eres["counters"]["messages_sent"], eres["counters"]["messages_received"]))
        if res:
            log("ws-load: established %d, failed %d, handshakes/s %.1f"
                % (res["counters"]["established"], res["counters"]["failed"],
                   res["rates"]["handshakes_per_s"]))
            st = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 0
                                   else None)(ngx.status()), 3) or ngx.status()
            eq("rates: accepts == sessions ws-load established",
               total(st, "counters", "accepts"), res["counters"]["established"]
               + (eres["counters"]["established"] if eres else 0))
            if eres:
                eq("rates: messages_in == messages ws-load sent",
                   total(st, "counters", "messages_in"), eres["counters"]["messages_sent"])
                eq("rates: messages_out == echoes ws-load received",
                   total(st, "counters", "messages_out"),
                   eres["counters"]["messages_received"])
            eq("rates: closes == accepts once all are closed",
               total(st, "counters", "closes"), total(st, "counters", "accepts"))
    finally:
        ngx.stop()
    check_log(ngx)


# --- 3. a stall of known length ---------------------------------------------------

OBSERVERS = 24           # one read event in 8 is sampled for event latency


def stall_round(port, conns, stall_ms, frac):
    """
    At the next wall-clock second + frac, the first connection sends
    "ws-gateway-test-stall:<stall_ms>" (or a plain message when 0); 5 ms
    later every other connection sends a message, which reaches the
    kernel while the worker is blocked (or just before it blocks, in the
    same batch of events, handled after the stalling one).  Returns the
    client-side round trip times in ms (ground truth).
    """
    staller, observers = conns[0], conns[1:]
    start = int(time.time()) + 1 + frac
    sleep_until(start)
    t_stall = time.time()
    staller.send_frame(0x1, "ws-gateway-test-stall:%d" % stall_ms
                       if stall_ms else "no stall")
    sleep_until(t_stall + 0.005)
    sent = {}
    for i, c in enumerate(observers):
        sent[i] = time.time()
        c.send_frame(0x1, "observer %d" % i)
    rtt = []
    for i, c in enumerate(observers):
        op, _ = c.recv_frame()
        rtt.append((time.time() - sent[i]) * 1000)
    staller.recv_frame()
    stall_rtt = (time.time() - t_stall) * 1000
    return t_stall, stall_rtt, rtt


def window10(ngx, after):
    """
    The worker's 10 s window once it covers the second of time "after":
    a window is made of whole seconds, up to the start of the current one.
    """
    want = int(after) + 1
    st = wait_for(lambda: (lambda s: s if s["workers"][0]["updated"] >= want
                           else None)(ngx.status()), 2.5) or ngx.status()
    w = st["workers"][0]["windows"]["10s"]
    return w["event_latency_us"], w["loop_lag_us"]


def fmt_hist(h):
    return "count %s p50 %s p90 %s p99 %s p99.9 %s max %s" % (
        h.get("count"), h.get("p50"), h.get("p90"), h.get("p99"),
        h.get("p99_9"), h.get("max"))


def test_stall():
    stall = 400
    port = ARGS.port + 3

    for variant, frac in (("inside a second", 0.15),
                          ("across a second boundary", 0.80)):
        name = "stall-%s" % ("inside" if frac < 0.5 else "across")
        ngx = Nginx(name, port, workers=1, module=ARGS.test_module).start()
        conns = []
        try:
            for _ in range(1 + OBSERVERS):
                c = Raw(port)
                if c.handshake() != 101:
                    raise RuntimeError("handshake failed")
                conns.append(c)

            if frac < 0.5:
                # the control: the same traffic, no stall
                _, _, rtt = stall_round(port, conns, 0, frac)
                ev, lag = window10(ngx, time.time())
                log("control (no stall): client round trips max %.1f ms" % max(rtt))
                log("control event_latency_us: " + fmt_hist(ev))
                log("control loop_lag_us:      " + fmt_hist(lag))
                ge("stall: control has event latency samples", ev["count"], 1)
                le("stall: control event latency max < 100 ms", ev["max"], 100000)
                le("stall: control loop lag max < 100 ms", lag["max"], 100000)

            t_stall, srtt, rtt = stall_round(port, conns, stall, frac)
            log("stall %d ms %s, sent at second + %.3f: the stalling message came "
                "back after %.1f ms, the observers' after %.1f-%.1f ms"
                % (stall, variant, t_stall % 1, srtt, min(rtt), max(rtt)))
            true("stall (%s): the worker really stalled (client side)" % variant,
                 srtt >= stall and min(rtt) >= stall - 60,
                 "stall round trip %.1f ms, observers >= %.1f ms" % (srtt, min(rtt)))
            ev, lag = window10(ngx, time.time())
            log("stall (%s) event_latency_us: %s" % (variant, fmt_hist(ev)))
            log("stall (%s) loop_lag_us:      %s" % (variant, fmt_hist(lag)))

            # The observers' data waited from t_stall + 5 ms to the end of
            # the stall: ~395 ms, and no longer than their round trip as
            # the clients measured it.  The lag probe runs every 100 ms, so
            # the timer due during the stall fires 300-400 ms late.
            ge("stall (%s): event latency max >= 350 ms" % variant, ev["max"], 350000)
            ge("stall (%s): event latency max >= the observers' shortest round trip"
               " - 20 ms" % variant, ev["max"], round((min(rtt) - 20) * 1000))
            le("stall (%s): event latency max <= the observers' longest round trip"
               % variant, ev["max"], round((max(rtt) + 1) * 1000))
            le("stall (%s): event latency max <= 450 ms" % variant, ev["max"], 450000)
            ge("stall (%s): event latency p99.9 >= 350 ms" % variant, ev["p99_9"], 350000)
            ge("stall (%s): loop lag max >= 290 ms" % variant, lag["max"], 290000)
            le("stall (%s): loop lag max <= 450 ms" % variant, lag["max"], 450000)
            ge("stall (%s): loop lag p99.9 >= 290 ms" % variant, lag["p99_9"], 290000)
        finally:
            for c in conns:
                c.close()
            ngx.stop()
        check_log(ngx)


# --- 4. drops, handshake results, ends, close codes ---------------------------------

def test_drops(prom_out):
    k = 7
    port = ARGS.port + 4
    ngx = Nginx("drops", port, workers=2,
                location="            ws_gateway_idle_timeout 1s;").start()
    try:
        before = ngx.status()

        # handshake results
        def hs(req):
            c = Raw(port)
            try:
                return c.request(req)
            finally:
                c.close()

        key = base64.b64encode(os.urandom(16)).decode()
        up = ("Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\n" % key)
        codes = {
            "not_websocket": hs("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Connection: close\r\n\r\n"),
            "bad_version": hs("GET /ws HTTP/1.1\r\n" + up +
                              "Sec-WebSocket-Version: 8\r\n\r\n"),
            "bad_method": hs("POST /ws HTTP/1.1\r\n" + up +
                             "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
            "bad_request": hs("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: c2hvcnQ=\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n"),
        }
        want_http = {"not_websocket": 426, "bad_version": 426,
                     "bad_method": 405, "bad_request": 400}
        for r in want_http:
            eq("handshakes: %s answered %d" % (r, want_http[r]), codes[r], want_http[r])

        # a protocol violation: an unmasked frame
        pv = Raw(port)
        eq("ends: violator handshake 101", pv.handshake(), 101)
        pv.send_frame(0x1, "unmasked", masked=False)
        op, payload = pv.recv_frame()
        eq("ends: unmasked frame answered with close 1002",
           (op, close_code(payload)), (0x8, 1002))
        pv.send_frame(0x8, struct.pack("!H", 1002))
        pv.eof()
        pv.close()

        # drops: data after the server's close frame
        d = Raw(port)
        eq("drops: client handshake 101", d.handshake(), 101)
        d.s.settimeout(4)
        op, payload = d.recv_frame()
        eq("drops: server closed the idle session with 1000",
           (op, close_code(payload)), (0x8, 1000))
        log("idle close reason: %r" % payload[2:].decode(errors="replace"))
        for i in range(k):
            d.send_frame(0x1, "after close %d" % i)
        d.send_frame(0x8, struct.pack("!H", 1000))
        true("drops: server closed the connection after the close reply",
             d.eof(), "EOF")
        d.close()

        after = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 0
                                  else None)(ngx.status()), 3) or ngx.status()

        def delta(*path):
            return total(after, *path) - total(before, *path)

        eq("drops: drops.closing increased by exactly %d" % k, delta("drops", "closing"), k)
        eq("drops: drops.unsent unchanged", delta("drops", "unsent"), 0)
        want_hs = {"accepted": 2, "not_websocket": 1, "bad_version": 1,
                   "bad_request": 1, "bad_method": 1, "failed": 0}
        for r, v in want_hs.items():
            eq("handshakes: %s +%d" % (r, v), delta("handshakes", r), v)
        for r in after["workers"][0]["ends"]:
            v = {"protocol_error": 1, "idle_timeout": 1}.get(r, 0)
            eq("ends: %s +%d" % (r, v), delta("ends", r), v)
        codes_after = {}
        for w in after["workers"]:
            for c, v in w["close_codes"].items():
                codes_after[c] = codes_after.get(c, 0) + v
        codes_before = {}
        for w in before["workers"]:
            for c, v in w["close_codes"].items():
                codes_before[c] = codes_before.get(c, 0) + v
        cd = {c: codes_after.get(c, 0) - codes_before.get(c, 0)
              for c in set(codes_after) | set(codes_before)}
        cd = {c: v for c, v in cd.items() if v}
        eq("close codes: exactly one 1000 and one 1002", cd, {"1000": 1, "1002": 1})
        eq("drops: active back to 0", after["totals"]["sessions"]["active"], 0)
        eq("drops: accepts == closes", total(after, "counters", "accepts"),
           total(after, "counters", "closes"))
        eq("totals agree with the sum of the workers (drops.closing)",
           after["totals"]["drops"]["closing"], total(after, "drops", "closing"))

        # the Prometheus text of the same state, for test 5
        status, headers, body = ngx.get("/status?format=prometheus")
        prom_out["status"] = status
        prom_out["type"] = headers.get("Content-Type")
        prom_out["text"] = body.decode()
        prom_out["json"] = ngx.status()
    finally:
        ngx.stop()
    check_log(ngx)


# --- 5. Prometheus --------------------------------------------------------------

def prom_sum(text, metric, **labels):
    s = 0
    found = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != metric:
            continue
        ls = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(ls.get(k) == v for k, v in labels.items()):
            s += float(m.group(3))
            found = True
    return s if found else None


def test_prometheus(prom):
    if not prom:
        true("prometheus: output fetched", False, "the drops test did not get it")
        return
    path = os.path.join(ARGS.out, "status.prom")
    with open(path, "w") as f:
        f.write(prom["text"])
    eq("prometheus: HTTP status", prom["status"], 200)
    true("prometheus: content type is text exposition 0.0.4",
         (prom["type"] or "").startswith("text/plain")
         and "version=0.0.4" in (prom["type"] or ""), repr(prom["type"]))
    r = subprocess.run([ARGS.promtool, "check", "metrics"], input=prom["text"],
                       capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    true("prometheus: promtool check metrics passes", r.returncode == 0,
         "exit %d%s" % (r.returncode, (": " + out[:500]) if out else ", no complaints"))

    j = prom["json"]
    t = prom["text"]
    eq("prometheus: accepts_total == JSON accepts",
       prom_sum(t, "ws_gateway_accepts_total"), float(total(j, "counters", "accepts")))
    eq("prometheus: closes_total == JSON closes",
       prom_sum(t, "ws_gateway_closes_total"), float(total(j, "counters", "closes")))
    metric = [m for m in set(re.findall(r"^(ws_gateway_\w*drop\w*)", t, re.M))
              if not m.endswith(("_created",))]
    got = None
    for m in metric:
        got = prom_sum(t, m, reason="closing")
        if got is not None:
            break
    eq("prometheus: drops (reason=closing) == JSON drops.closing", got,
       float(total(j, "drops", "closing")))


# --- 6. the dashboard in headless Chromium ---------------------------------------------

def test_dashboard():
    port = ARGS.port + 6
    ngx = Nginx("dashboard", port, workers=2,
                http="    ws_gateway_idle_window 2s;",
                location="            ws_gateway_idle_timeout 1s;").start()
    shot = os.path.join(ARGS.out, "dashboard.png")
    if os.path.exists(shot):
        os.unlink(shot)
    try:
        # sessions come and go: 100 connects/s, each closed after 1 s idle,
        # and an echo load so that messages flow too
        churn = Load("idle", "ws://127.0.0.1:%d/ws" % port, "-c", 1500,
                     "-r", 100, "-d", 14, "-q")
        echo = Load("echo", "ws://127.0.0.1:%d/ws" % port, "-c", 4,
                    "-R", 200, "-d", 14, "-q")
        r = subprocess.run([ARGS.node, os.path.join(ARGS.here, "dashboard.js"),
                            ngx.url("/status?format=html"), shot,
                            os.path.join(ARGS.out, "chromium-profile")],
                           capture_output=True, text=True, timeout=60,
                           cwd=ARGS.here)
        churn.stop()
        echo.stop()
        churn.result(10)
        echo.result(10)
        for line in r.stderr.strip().splitlines()[-10:]:
            log("dashboard.js: " + line)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            true("dashboard: the browser test ran", False,
                 "exit %d, stdout %r" % (r.returncode, r.stdout[-300:]))
            return
        log("dashboard: %s" % json.dumps(res.get("info")))
        true("dashboard: page loaded (HTTP 200, text/html)", res["loaded"],
             "status %s, %s" % (res.get("status"), res.get("contentType")))
        ge("dashboard: canvas elements rendered", res["canvases"], 4)
        true("dashboard: charts have ink", res["inked"] == res["canvases"],
             "%s of %s canvases drawn on" % (res["inked"], res["canvases"]))
        true("dashboard: charts updated between two samples", res["chartsChanged"],
             "%s of %s canvases changed in %s ms" % (res["chartsChangedCount"],
                                                     res["canvases"], res["gapMs"]))
        true("dashboard: numbers updated between two samples", res["numbersChanged"],
             "info %r -> %r" % (res["info"][0], res["info"][1]))
        ge("dashboard: worker rows in the table", res["workerRows"], 2)
        eq("dashboard: console errors", res["consoleErrors"], [])
        if res.get("faviconErrors"):
            log("dashboard: the browser's /favicon.ico request failed (not counted): %s"
                % res["faviconErrors"])
        log("dashboard: HTTP errors seen: %s" % (res.get("failedResponses") or "none"))
        eq("dashboard: page errors", res["pageErrors"], [])
        eq("dashboard: error field empty", res["errText"], "")
        true("dashboard: screenshot saved", os.path.getsize(shot) > 10000
             if os.path.exists(shot) else False, shot)
    finally:
        ngx.stop()
    check_log(ngx)


# --- 7. many workers ---------------------------------------------------------------

def test_workers():
    """
    nginx -t, a start and a status listing every worker, for 1, 2, 16 and
    64 workers: the zone is sized for its slots and the slab pool's own
    bookkeeping, whatever the count (12 or more used to fail).
    """
    port = ARGS.port + 7
    for n in (1, 2, 16, 64):
        ngx = Nginx("workers-%d" % n, port, workers=n, worker_connections=256)
        r = subprocess.run([ARGS.nginx, "-t", "-p", ngx.prefix, "-c", ngx.conf],
                           capture_output=True, text=True)
        true("workers %d: nginx -t passes" % n, r.returncode == 0,
             "exit %d %s" % (r.returncode, r.stderr.strip().splitlines()[-1:]))
        try:
            ngx.start()
            st = ngx.status()
            listed, ps = sorted(w["pid"] for w in st["workers"]), ngx.workers()
            true("workers %d: status lists exactly the workers ps shows" % n,
                 listed == ps, "%d listed, %d in ps%s" % (
                     len(listed), len(ps), "" if listed == ps
                     else ": %s vs %s" % (listed, ps)))
            eq("workers %d: totals.workers" % n, st["totals"]["workers"], n)
            ge("workers %d: slots for four generations of workers" % n,
               st["nslots"], 4 * n)
            c = Raw(port)
            eq("workers %d: a session starts" % n, c.handshake(), 101)
            st = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 1
                                   else None)(ngx.status()), 2) or ngx.status()
            eq("workers %d: the session is counted" % n,
               st["totals"]["sessions"]["active"], 1)
            c.close()
        except RuntimeError as e:
            true("workers %d: nginx started and reported every worker" % n,
                 False, str(e))
        finally:
            ngx.stop()
        check_log(ngx)


# --- 8. reloads that change worker_processes ----------------------------------------

def open_sessions(port, k):
    conns = []
    for i in range(k):
        c = Raw(port)
        if c.handshake() != 101:
            raise RuntimeError("handshake failed")
        c.send_frame(0x1, "hello %d" % i)
        c.recv_frame()
        conns.append(c)
    return conns


def by_pid(st):
    return {w["pid"]: w for w in st["workers"]}


def test_reload():
    """
    2 -> 3 -> 2 workers with sessions open on the old workers, whose
    clients never answer the close: the old workers drain for the close
    timeout, and must stay in the status output, exiting, with their
    counters, while the totals go on from where they were.
    """
    port = ARGS.port + 8
    loc = "            ws_gateway_close_timeout 4s;"
    ngx = Nginx("reload", port, workers=2, location=loc).start()
    conns = []
    try:
        conns += open_sessions(port, 12)
        st1 = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 12
                                else None)(ngx.status()), 3) or ngx.status()
        gen0 = {p: w for p, w in by_pid(st1).items() if w["sessions"]["active"]}
        acc1 = st1["totals"]["counters"]["accepts"]
        eq("reload: 12 sessions before the reload", acc1, 12)

        def settled(nw, gen):
            def f():
                st = ngx.status()
                new = [w for w in st["workers"]
                       if w["generation"] == gen and not w["exiting"]]
                old = [w for w in st["workers"] if w["generation"] < gen]
                if len(new) == nw and all(w["exiting"] for w in old):
                    return st
                return None
            return wait_for(f, 5) or ngx.status()

        ngx.reload(3, location=loc)
        st2 = settled(3, st1["generation"] + 1)
        w2 = by_pid(st2)
        eq("reload 2->3: the zone is kept (nslots)", st2["nslots"], st1["nslots"])
        eq("reload 2->3: generation + 1", st2["generation"], st1["generation"] + 1)
        eq("reload 2->3: three new workers",
           len([w for w in st2["workers"] if w["generation"] == st2["generation"]]), 3)
        for pid, w in gen0.items():
            o = w2.get(pid)
            true("reload 2->3: old worker %d (%d sessions) still listed"
                 % (pid, w["sessions"]["active"]), o is not None, "pids %s" % sorted(w2))
            if o is None:
                continue
            true("reload 2->3: old worker %d exiting" % pid, o["exiting"], str(o["exiting"]))
            eq("reload 2->3: old worker %d keeps its accepts" % pid,
               o["counters"]["accepts"], w["counters"]["accepts"])
            eq("reload 2->3: old worker %d keeps its messages_in" % pid,
               o["counters"]["messages_in"], w["counters"]["messages_in"])
            eq("reload 2->3: old worker %d sessions draining" % pid,
               o["sessions"]["draining"], w["sessions"]["active"])
        eq("reload 2->3: totals.accepts did not restart",
           st2["totals"]["counters"]["accepts"], acc1)
        eq("reload 2->3: status lists the processes ps shows",
           sorted(w2), ngx.workers())

        conns += open_sessions(port, 6)
        time.sleep(0.2)
        st2b = ngx.status()
        gen1 = {p: w for p, w in by_pid(st2b).items()
                if w["generation"] == st2["generation"] and w["sessions"]["active"]}

        ngx.reload(2, location=loc)
        st3 = settled(2, st2["generation"] + 1)
        w3 = by_pid(st3)
        eq("reload 3->2: the zone is kept (nslots)", st3["nslots"], st1["nslots"])
        eq("reload 3->2: generation + 2", st3["generation"], st1["generation"] + 2)
        alive = set(ngx.workers())
        for pid, w in list(gen0.items()) + list(gen1.items()):
            if pid not in alive:
                continue
            o = w3.get(pid)
            true("reload 3->2: old worker %d (generation %d) still listed"
                 % (pid, w["generation"]), o is not None, "pids %s" % sorted(w3))
            if o:
                eq("reload 3->2: old worker %d keeps its accepts" % pid,
                   o["counters"]["accepts"], w["counters"]["accepts"])
        eq("reload 3->2: totals.accepts == all sessions ever accepted",
           st3["totals"]["counters"]["accepts"], acc1 + 6)

        # the old workers exit after the close timeout, and leave the output
        st4 = wait_for(lambda: (lambda s: s if len(s["workers"]) == 2 else None)(
            ngx.status()), 8) or ngx.status()
        eq("reload: after the drain, only the two new workers are listed",
           sorted(w["pid"] for w in st4["workers"]), ngx.workers())
        eq("reload: after the drain, no session left", st4["totals"]["sessions"]["active"], 0)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


def test_single():
    """
    master_process off: a reload runs in the serving process; a zone that
    NGINX cannot keep (its size changed) is unmapped at once.  The process
    must not crash, and its slot moves to the new zone with its gauges.
    (Without a master process NGINX accepts no connection after a reload,
    so the per-second log line is read instead of the status handler.)
    """
    port = ARGS.port + 9
    http = "    ws_gateway_status_log 1s;"
    ngx = Nginx("single", port, workers=2, master=False, http=http).start()
    c = None
    try:
        c = Raw(port)
        eq("single: handshake", c.handshake(), 101)
        for i in range(3):
            c.send_frame(0x1, "m%d" % i)
            c.recv_frame()
        st1 = ngx.status()
        eq("single: messages_in before the reloads",
           st1["totals"]["counters"]["messages_in"], 3)

        for step, (workers, extra) in enumerate((
                (17, ""),                                  # the zone grows
                (2, ""),                                   # kept
                (2, "    ws_gateway_metrics_slots 40;"),   # resized
                (2, "    ws_gateway_metrics off;")), 1):   # gone
            with open(ngx.error_log, errors="replace") as f:
                seen = len(f.read())
            ngx.reload(workers, http=http + "\n" + extra)
            time.sleep(2.2)
            alive = os.path.exists("/proc/%d" % ngx.master)
            true("single reload %d: the process is alive" % step, alive,
                 "pid %d" % ngx.master)
            if not alive:
                break
            c.send_frame(0x1, "after reload %d" % step)
            op, payload = c.recv_frame()
            eq("single reload %d: the session still echoes" % step,
               payload, ("after reload %d" % step).encode())
            with open(ngx.error_log, errors="replace") as f:
                new = f.read()[seen:]
            lines = re.findall(r"ws_gateway: worker=\d+ active=(\d+) idle=\d+ "
                               r"handshaking=(\d+)", new)
            if "metrics off" in extra:
                eq("single reload %d: metrics off, no log line" % step, lines, [])
            else:
                true("single reload %d: the log line reports the session" % step,
                     lines and lines[-1] == ("1", "0"),
                     "lines after the reload: %s" % lines)
    finally:
        if c:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 9. a dead worker's slot, its pid reused -----------------------------------------

def spawn_with_pid(pid, tries=50):
    """A `sleep` (root's, not the workers' user) with exactly this pid."""
    for _ in range(tries):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = subprocess.Popen(["sleep", "60"])
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
    return None


def test_liveness():
    """
    A worker killed with sessions open leaves its slot behind; its pid
    then goes to a process of another user (kill(pid, 0) says EPERM):
    the dead worker must leave the status output and the totals.  And a
    worker that is stopped (alive, not beating) must stay listed.
    """
    port = ARGS.port + 10
    ngx = Nginx("liveness", port, workers=2).start()
    conns = []
    reused = None
    stopped = None
    try:
        # a reload frees the first slots, so the worker respawned after
        # the kill takes one of those, not the dead worker's
        st0 = ngx.status()
        ngx.reload(2)
        st = wait_for(lambda: (lambda s: s if len(s["workers"]) == 2 and all(
            w["generation"] == st0["generation"] + 1 for w in s["workers"])
            else None)(ngx.status()), 5) or ngx.status()
        workers = [w["pid"] for w in st["workers"]]
        eq("liveness: two workers after the reload", len(workers), 2)

        # sessions on both workers
        for _ in range(40):
            conns += open_sessions(port, 1)
            m = by_pid(ngx.status())
            if all(m.get(p, {}).get("sessions", {}).get("active") for p in workers):
                break
        m = by_pid(ngx.status())
        victim, survivor = workers
        vs = m[victim]["sessions"]["active"]
        ss = m[survivor]["sessions"]["active"]
        true("liveness: sessions on both workers", vs and ss,
             "%d on %d, %d on %d" % (vs, victim, ss, survivor))

        os.kill(victim, signal.SIGKILL)
        deadline = time.time() + 5
        while time.time() < deadline and (victim in ngx.workers()
                                          or len(ngx.workers()) < 2):
            time.sleep(0.05)
        reused = spawn_with_pid(victim)
        true("liveness: the dead worker's pid %d now belongs to a root process"
             % victim, reused is not None, "ns_last_pid")
        time.sleep(2.6)     # the dead slot's beat is stale
        st = ngx.status()
        listed = sorted(w["pid"] for w in st["workers"])
        eq("liveness: the dead worker is not listed", victim in listed, False)
        eq("liveness: status lists the workers ps shows", listed, ngx.workers())
        eq("liveness: totals.active == the survivor's sessions",
           st["totals"]["sessions"]["active"], ss)
        status, _, body = ngx.get("/v")
        eq("liveness: $ws_gateway_active == the survivor's sessions",
           int(body.split()[0]), ss)

        # a stopped worker does not beat, but is alive: still listed
        stopped = survivor
        os.kill(stopped, signal.SIGSTOP)
        time.sleep(2.6)
        st = ngx.status()
        w = by_pid(st).get(stopped)
        true("liveness: a stopped worker (not beating) is still listed",
             w is not None, "pids %s" % sorted(by_pid(st)))
        if w:
            eq("liveness: the stopped worker's sessions still counted",
               w["sessions"]["active"], ss)
            ge("liveness: the stopped worker's updated lags", st["time"] - w["updated"], 2)
        os.kill(stopped, signal.SIGCONT)
        stopped = None
    finally:
        if stopped:
            os.kill(stopped, signal.SIGCONT)
        if reused:
            reused.kill()
            reused.wait()
        for c in conns:
            c.close()
        ngx.stop()
    bad = [l for l in ngx.log_problems() if "exited on signal 9" not in l]
    true("liveness: error.log clean (but the kill)", not bad, "; ".join(bad[:3]))


# --- 10. readers against a snapshot being written ------------------------------------

def window_problems(w):
    """What is impossible in one worker's window: rates, counts, quantiles."""
    bad = []
    for name, win in w["windows"].items():
        for k in ("accepts_per_s", "closes_per_s", "churn_per_s",
                  "messages_in_per_s", "messages_out_per_s",
                  "events_per_iteration"):
            if not 0 <= win.get(k, 0) < 1e6:
                bad.append("%s %s %g" % (name, k, win[k]))
        for h in ("event_latency_us", "loop_lag_us"):
            for k, v in win[h].items():
                if not 0 <= v < 1e7:
                    bad.append("%s %s.%s %d" % (name, h, k, v))
    return bad


def test_seqlock():
    """
    The test build's hooks make a worker's slot 60 s old (its ring
    full), then block it for 600 ms in the middle of the next second's
    snapshot, which overwrites the oldest second: the start of the 60 s
    window.  The other worker serves the status meanwhile: every window
    it reports must be possible (no rate of 10^17/s, no histogram of
    garbage), and the 60 s window stays whole.
    """
    port = ARGS.port + 11
    ngx = Nginx("seqlock", port, workers=2, module=ARGS.test_module).start()
    c = None
    try:
        c = Raw(port)
        eq("seqlock: handshake", c.handshake(), 101)
        st = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 1
                               else None)(ngx.status()), 2) or ngx.status()
        target = [w["pid"] for w in st["workers"] if w["sessions"]["active"]][0]

        # in one second: age the slot, move the counters, arm the slow write
        sleep_until(int(time.time()) + 1.1)
        for m in ["ws-gateway-test-age:60"] + ["m%d" % i for i in range(20)] \
                + ["ws-gateway-test-slow-snapshot:600"]:
            c.send_frame(0x1, m)
            c.recv_frame()
        armed = time.time()

        reads = 0
        seen = 0
        bad = []
        while time.time() < int(armed) + 2.0:
            try:
                w = by_pid(ngx.status()).get(target)
            except OSError:
                continue
            reads += 1
            if w is None:
                continue
            seen += 1
            p = window_problems(w)
            if p:
                bad.append(p)
        log("seqlock: %d reads, %d with the slowed worker, %d impossible"
            % (reads, seen, len(bad)))
        with open(ngx.error_log, errors="replace") as f:
            slowed = "ws gateway test slow snapshot: 600 ms" in f.read()
        true("seqlock: the snapshot was slowed (test hook)", slowed, "error.log")
        ge("seqlock: reads of the slowed worker's slot", seen, 20)
        eq("seqlock: no impossible window in any read", bad[:3], [])
        st = ngx.status()
        w = by_pid(st)[target]["windows"]["60s"]
        # the age message itself was counted before the ring was filled
        within("seqlock: afterwards, the 60 s messages_in rate (21 in 60 s)",
               w["messages_in_per_s"], 21 / 60.0, 0.05)
    finally:
        if c:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 11. loop iterations without replacing the event module's process_events -----

def test_iterations():
    """
    Events per loop iteration are counted without replacing
    ngx_event_actions.process_events (the test build logs whose function
    it is), and the counts still add up: every module event falls in one
    iteration, over several reloads.
    """
    port = ARGS.port + 12
    ngx = Nginx("iterations", port, workers=1, module=ARGS.test_module).start()
    conns = []
    try:
        for gen in range(3):
            if gen:
                ngx.reload(1)
                wait_for(lambda: (lambda s: s if len(s["workers"]) == 1
                                  and s["workers"][0]["generation"] == gen
                                  else None)(ngx.status()), 5)
            c = Raw(port)
            eq("iterations gen %d: handshake" % gen, c.handshake(), 101)
            conns.append(c)
            c.send_frame(0x1, "ws-gateway-test-actions")
            c.recv_frame()
            # bursts from several sessions, so that iterations batch events
            extra = open_sessions(port, 8)
            conns += extra
            for r in range(20):
                for x in extra:
                    x.send_frame(0x1, "burst %d" % r)
                for x in extra:
                    x.recv_frame()
            w = ngx.status()["workers"][0]
            ev = w["counters"]["events"]
            it = w["counters"]["iterations"]
            hist = sum(w["batch"]["histogram"].values())
            ge("iterations gen %d: events counted" % gen, ev, 8 * 20)
            true("iterations gen %d: 0 < iterations <= events" % gen,
                 0 < it <= ev, "iterations %d, events %d" % (it, ev))
            eq("iterations gen %d: batch histogram sums to iterations" % gen,
               hist, it)
        with open(ngx.error_log, errors="replace") as f:
            said = re.findall(r"ws gateway test: process_events is ([^,\n]+)", f.read())
        eq("iterations: process_events is the event module's, in every generation",
           said, ["the event module's"] * 3)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 12. SO_TIMESTAMP only where it pays ---------------------------------------------

def test_timestamps():
    """
    400 sessions on one worker: SO_TIMESTAMP must be on only the first
    64 and one in eight after (the test build asks the kernel, with
    getsockopt, about every socket of the worker), and event latency
    must still be sampled when every session sends.
    """
    n = 400
    port = ARGS.port + 13
    ngx = Nginx("timestamps", port, workers=1, module=ARGS.test_module).start()
    conns = []
    try:
        conns = open_sessions(port, n)
        for c in conns:
            c.send_frame(0x1, "x")
        for c in conns:
            c.recv_frame()
        conns[0].send_frame(0x1, "ws-gateway-test-stamped")
        conns[0].recv_frame()
        with open(ngx.error_log, errors="replace") as f:
            m = re.findall(r"ws gateway test: (\d+) sockets with SO_TIMESTAMP", f.read())
        got = int(m[-1]) if m else None
        log("%s of %d session sockets have SO_TIMESTAMP" % (got, n))
        le("timestamps: sockets with SO_TIMESTAMP <= 64 + %d / 8 + 1" % n,
           got, 64 + n // 8 + 1)
        ge("timestamps: sockets with SO_TIMESTAMP >= 64", got, 64)
        st = wait_for(lambda: (lambda s: s if s["workers"][0]["updated"] >= int(time.time())
                               else None)(ngx.status()), 2.5) or ngx.status()
        st = ngx.status()
        time.sleep(1.2)
        st = ngx.status()
        ev = st["workers"][0]["windows"]["10s"]["event_latency_us"]["count"]
        # ~ one read event in eight is sampled: the 2 x 400 + 1 reads give ~100
        ge("timestamps: event latency still sampled (1 in 8 of %d reads)" % (2 * n + 1),
           ev, (2 * n) // 8 // 2)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 13. the SO_TIMESTAMP count after the slot is gone --------------------------------

def stamp_report(ngx, c):
    """(sockets with SO_TIMESTAMP, sessions the worker counts as stamped)."""
    with open(ngx.error_log, errors="replace") as f:
        seen = len(f.read())
    c.send_frame(0x1, "ws-gateway-test-stamped")
    c.recv_frame()
    with open(ngx.error_log, errors="replace") as f:
        m = re.findall(r"ws gateway test: (\d+) sockets with SO_TIMESTAMP, "
                       r"(\d+) counted", f.read()[seen:])
    return tuple(int(x) for x in m[-1]) if m else None


def test_stamp_count():
    """
    master_process off, so that one process sees its slot go: three
    stamped sessions, a reload that turns metrics off, two of the
    sessions end.  The worker's count of stamped sessions (which decides
    who gets SO_TIMESTAMP: the first 64, then one in 8) must follow the
    sessions that end without a slot too, or it drifts up for good.
    """
    port = ARGS.port + 14
    ngx = Nginx("stampcount", port, workers=1, master=False,
                module=ARGS.test_module).start()
    conns = []
    try:
        conns = open_sessions(port, 3)
        eq("stampcount: before the reload, sockets and count",
           stamp_report(ngx, conns[0]), (3, 3))
        ngx.reload(1, http="    ws_gateway_metrics off;")
        time.sleep(2.2)
        for c in conns[1:]:
            c.close()
        time.sleep(0.5)
        eq("stampcount: metrics off, two sessions ended: sockets and count",
           stamp_report(ngx, conns[0]), (1, 1))
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 14. one loop iteration per pass of the event loop ------------------------------

def test_passes():
    """
    Sessions whose client sends an unmasked frame (1002) and its FIN in
    one segment (TCP_CORK, then shutdown): the worker reads the frame,
    sends its close, half-closes and reads on to the EOF from a posted
    event of the same pass, after the event that ends the pass's batch
    (NGINX's posted events run until none is left).  One at a time, on
    an otherwise idle worker: each close is one pass of the event loop
    with module events, so the iterations must grow by exactly one per
    session (not two, the batch being closed twice in one pass).
    """
    n = 20
    port = ARGS.port + 15
    ngx = Nginx("passes", port, workers=1).start()
    conns = []
    try:
        conns = open_sessions(port, n)
        time.sleep(0.3)
        w0 = ngx.status()["workers"][0]["counters"]
        closed = 0
        for c in conns:
            c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            c.send_frame(0x1, "unmasked", masked=False)
            c.s.shutdown(socket.SHUT_WR)
            if c.eof():
                closed += 1
        eq("passes: sessions closed by the server", closed, n)
        time.sleep(0.3)
        w1 = ngx.status()["workers"][0]["counters"]
        it = w1["iterations"] - w0["iterations"]
        ev = w1["events"] - w0["events"]
        log("passes: %d closes, %d events, %d iterations" % (n, ev, it))
        ge("passes: events of the closes", ev, n)
        eq("passes: iterations, one per close", it, n)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 15. a reload that adds a worker keeps the zone ------------------------------------

def test_grow():
    """
    16 -> 17 workers without ws_gateway_metrics_slots, sessions open on
    the old workers whose clients never answer the close: the zone must
    be kept (its size rounded up, so that a few more workers fit), or
    the new workers get a new zone and the old workers' counters, still
    draining, leave the status output and the totals.
    """
    port = ARGS.port + 16
    loc = "            ws_gateway_close_timeout 4s;"
    ngx = Nginx("grow", port, workers=16, location=loc,
                worker_connections=256).start()
    conns = []
    try:
        conns += open_sessions(port, 20)
        st1 = wait_for(lambda: (lambda s: s if s["totals"]["sessions"]["active"] == 20
                                else None)(ngx.status()), 3) or ngx.status()
        acc1 = st1["totals"]["counters"]["accepts"]
        eq("grow: 20 sessions before the reload", acc1, 20)
        old = sorted(p for p, w in by_pid(st1).items() if w["sessions"]["active"])

        ngx.reload(17, location=loc)
        gen = st1["generation"] + 1
        st2 = wait_for(lambda: (lambda s: s if len(
            [w for w in s["workers"] if w["generation"] == gen]) == 17 else None)(
                ngx.status()), 5) or ngx.status()
        eq("grow 16->17: the zone is kept (nslots)", st2["nslots"], st1["nslots"])
        eq("grow 16->17: generation + 1", st2["generation"], gen)
        listed = set(by_pid(st2))
        eq("grow 16->17: the draining old workers still listed",
           [p for p in old if p not in listed], [])
        eq("grow 16->17: totals.accepts did not restart",
           st2["totals"]["counters"]["accepts"], acc1)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 16. ws_gateway_metrics_slots is bounded ---------------------------------------------

def test_slot_bound():
    """
    A slot is about 125 KB: ws_gateway_metrics_slots 4096 would make a
    zone of half a gigabyte.  nginx -t must refuse a value past the bound
    (512 on 64-bit platforms), naming the directive, the value and
    file:line; the bound itself is accepted and the zone has that many
    slots.
    """
    port = ARGS.port + 17
    for n, ok in ((4096, False), (513, False), (0, False), (512, True)):
        ngx = Nginx("slotbound", port, workers=1,
                    http="    ws_gateway_metrics_slots %d;" % n)
        with open(ngx.conf) as f:
            line = [i for i, l in enumerate(f.read().splitlines(), 1)
                    if "ws_gateway_metrics_slots" in l][0]
        r = subprocess.run([ARGS.nginx, "-t", "-p", ngx.prefix, "-c", ngx.conf],
                           capture_output=True, text=True)
        err = r.stderr.strip()
        if ok:
            true("slotbound %d: nginx -t passes" % n, r.returncode == 0,
                 "exit %d %s" % (r.returncode, err.splitlines()[-1:]))
            try:
                ngx.start()
                eq("slotbound %d: the zone has that many slots" % n,
                   ngx.status()["nslots"], n)
            finally:
                ngx.stop()
            check_log(ngx)
            continue
        emerg = [l for l in err.splitlines() if "[emerg]" in l]
        true("slotbound %d: nginx -t fails" % n, r.returncode != 0,
             "exit %d" % r.returncode)
        true("slotbound %d: the error names directive, value and file:line" % n,
             emerg and "ws_gateway_metrics_slots %d" % n in emerg[0]
             and "%s:%d" % (ngx.conf, line) in emerg[0],
             emerg[0] if emerg else err)


# --- 17. worker_processes after the http block ---------------------------------------------

def test_late_workers():
    """
    worker_processes written after http{} (a main-level directive may
    come anywhere): the zone was sized when http{} was read, for the CPU
    count, and has fewer slots than the workers.  NGINX must warn once,
    naming ws_gateway_metrics_slots; the workers without a slot must
    still serve; the status must say how many workers are unmetered.
    """
    ncpu = os.sysconf("SC_NPROCESSORS_ONLN")
    nslots = 32
    while nslots < 4 * ncpu:
        nslots *= 2
    workers = nslots + 3
    port = ARGS.port + 18
    ngx = Nginx("lateworkers", port, workers=workers, worker_connections=256)
    with open(ngx.conf) as f:
        conf = f.read()
    conf = conf.replace("worker_processes %d;\n" % workers, "")
    conf += "\nworker_processes %d;\n" % workers
    with open(ngx.conf, "w") as f:
        f.write(conf)
    conns = []
    try:
        ngx.start(listed=nslots)
        st = ngx.status()
        eq("lateworkers: the zone was sized for the CPU count (nslots)",
           st["nslots"], nslots)
        eq("lateworkers: %d workers run" % workers, len(ngx.workers()), workers)
        eq("lateworkers: status lists the workers with a slot",
           len(st["workers"]), nslots)
        eq("lateworkers: status says how many workers are unmetered",
           st.get("unmetered_workers"), workers - nslots)
        _, _, body = ngx.get("/status?format=prometheus")
        m = re.search(rb"^ws_gateway_unmetered_workers (\d+)$", body, re.M)
        eq("lateworkers: prometheus ws_gateway_unmetered_workers",
           int(m.group(1)) if m else None, workers - nslots)
        with open(ngx.error_log, errors="replace") as f:
            warned = re.findall(r"\[warn\].*ws_gateway_metrics_slots.*", f.read())
        eq("lateworkers: one warning naming ws_gateway_metrics_slots",
           len(warned), 1)
        log("lateworkers: %s" % (warned[:1],))
        # every worker serves, with a slot or not
        conns = open_sessions(port, 3 * workers)
        by, _ = established_by_pid(port)
        listed = set(by_pid(ngx.status()))
        unlisted = sum(n for p, n in by.items() if p not in listed)
        log("lateworkers: %d sessions, %d of them on workers without a slot"
            % (len(conns), unlisted))
        eq("lateworkers: every session echoes", len(conns), 3 * workers)
    finally:
        for c in conns:
            c.close()
        ngx.stop()
    check_log(ngx)


# --- 19. backend links -----------------------------------------------------------

# an upstream name that needs escaping in JSON and in Prometheus label
# values (the nginx.conf spelling, then the name itself)
WEIRD_CONF = '"w\\"q\\\\b\\t\xe9<i>"'
WEIRD = 'w"q\\b\t\xe9<i>'


def link_entries(st, upstream, server):
    """Per worker pid: its links entry for (upstream, server), or None."""
    out = {}
    for w in st["workers"]:
        out[w["pid"]] = None
        for e in w.get("links", []):
            if e["upstream"] == upstream and e["server"] == server:
                out[w["pid"]] = e
    return out


def link_sum(st, upstream, server, key):
    s = 0
    for e in link_entries(st, upstream, server).values():
        if e is not None:
            s += e["links"][key] if key in ("ready", "connecting", "down") else e[key]
    return s


def prom_series(text):
    """(name, {labels}, value) of every sample line, label values unescaped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
        name, i, labels = m.group(1), m.end(), {}
        if line[i:i + 1] == "{":
            i += 1
            while line[i] != "}":
                m = re.match(r'([a-zA-Z_]\w*)="', line[i:])
                k, i, v = m.group(1), i + m.end(), ""
                while line[i] != '"':
                    if line[i] == "\\":
                        v += {"n": "\n"}.get(line[i + 1], line[i + 1])
                        i += 2
                    else:
                        v += line[i]
                        i += 1
                labels[k] = v
                i += 1
                if line[i] == ",":
                    i += 1
            i += 1
        out.append((name, labels, float(line[i:].split()[0])))
    return out


class Backend:
    """scripts/backend/echo.py on 127.0.0.1:port, stopped by the test."""

    def __init__(self, port):
        top = os.path.dirname(os.path.dirname(os.path.abspath(ARGS.here)))
        self.port = port
        self.p = subprocess.Popen(
            [sys.executable, os.path.join(top, "scripts", "backend", "echo.py"),
             "127.0.0.1:%d" % port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        BACKENDS.append(self)
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("echo.py did not listen on %d" % port)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(5)
        if self in BACKENDS:
            BACKENDS.remove(self)


BACKENDS = []


def test_links():
    """
    2 workers, upstream u with a server that runs echo.py (P1, with
    max_fails=0: usable as soon as its links are back) and one where
    nothing listens (P2), 2 links each; a second upstream (of a name
    that needs escaping, 1 link to P1, heartbeats every 300 ms) for the
    round trip.  Ground truth: the test's sessions and messages, the
    backend it kills and restarts.
    """
    port = ARGS.port + 40
    p1, p2 = ARGS.port + 41, ARGS.port + 42
    s1, s2 = "127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2
    n, per, size = 6, 5, 100          # sessions, messages each, payload
    http = """    upstream u {
        server %s max_fails=0;
        server %s;
        ws_gateway_links 2;
        ws_gateway_link_heartbeat 60s;
        ws_gateway_link_read_timeout 120s;
        ws_gateway_link_backoff 100ms 300ms;
    }
    upstream %s {
        server %s;
        ws_gateway_links 1;
        ws_gateway_link_heartbeat 300ms;
        ws_gateway_link_backoff 100ms 300ms;
    }
    server {
        listen 127.0.0.1:%d;
        location /u {
            ws_gateway_pass u;
            # a lost link closes its sessions at once, with 1011 (the
            # behaviour before failover; failover: see test_channels)
            ws_gateway_failover_timeout 0;
            ws_gateway_failover_close 1011;
        }
        location /w { ws_gateway_pass %s; }
    }
""" % (s1, s2, WEIRD_CONF, s1, port + 9, WEIRD_CONF)
    backend = Backend(p1)
    ngx = Nginx("links", port, workers=2, http=http).start()
    conns = []
    try:
        wport = port + 9

        def up(st, want):
            e = link_entries(st, "u", s1)
            return all(x is not None and x["links"]["ready"] == want
                       for x in e.values()) and len(e) == 2

        st = wait_for(lambda: (lambda s: s if up(s, 2) else None)(ngx.status()), 5) \
            or ngx.status()

        # links by state, per server, per worker
        for pid, e in sorted(link_entries(st, "u", s1).items()):
            if e is None:
                true("links: worker %d has an entry for %s" % (pid, s1), False, "none")
                continue
            eq("links: worker %d, %s: ready == 2" % (pid, s1), e["links"]["ready"], 2)
            eq("links: worker %d, %s: connecting + down == 0" % (pid, s1),
               e["links"]["connecting"] + e["links"]["down"], 0)
            eq("links: worker %d, %s: connects == 2" % (pid, s1), e["connects"], 2)
            eq("links: worker %d, %s: reconnects == 0" % (pid, s1), e["reconnects"], 0)
            eq("links: worker %d, %s: resets == 0" % (pid, s1), e["resets"], 0)
            eq("links: worker %d, %s: records in/out == 2 (the HELLOs)" % (pid, s1),
               (e["records_in"], e["records_out"]), (2, 2))
        for pid, e in sorted(link_entries(st, "u", s2).items()):
            if e is None:
                true("links: worker %d has an entry for %s" % (pid, s2), False, "none")
                continue
            eq("links: worker %d, %s (nothing listens): ready == 0" % (pid, s2),
               e["links"]["ready"], 0)
            eq("links: worker %d, %s: connecting + down == 2" % (pid, s2),
               e["links"]["connecting"] + e["links"]["down"], 2)
            ge("links: worker %d, %s: resets >= 2 (failed connects)" % (pid, s2),
               e["resets"], 2)
            ge("links: worker %d, %s: connects >= resets" % (pid, s2),
               e["connects"], e["resets"])
        wl = link_entries(st, WEIRD, s1)
        true("links: the escaped upstream name reads back exactly (JSON)",
             len(wl) == 2 and all(x is not None for x in wl.values()),
             "%r in %r" % (WEIRD, sorted(set(e["upstream"] for w in st["workers"]
                                              for e in w["links"]))))

        # sessions and messages
        before = ngx.status()
        for _ in range(n):
            c = Raw(wport)
            if c.handshake("/u") != 101:
                raise RuntimeError("handshake to /u failed")
            conns.append(c)
        for c in conns:
            for i in range(per):
                c.send_frame(0x1, ("%03d" % i) * (size // 3) + "x" * (size % 3))
            for i in range(per):
                c.recv_frame()
        st = ngx.status()
        eq("links: sessions (u, P1) summed over workers == N",
           link_sum(st, "u", s1, "sessions"), n)
        eq("links: sessions (u, P2) == 0", link_sum(st, "u", s2, "sessions"), 0)
        eq("links: totals.links (u, P1) sessions == N",
           sum(e["sessions"] for e in st["totals"]["links"]
               if e["upstream"] == "u" and e["server"] == s1), n)

        def d(key, a=before, b=None):
            return link_sum(b or st, "u", s1, key) - link_sum(a, "u", s1, key)

        m = n * per
        eq("links: records_in +M (the echoes)", d("records_in"), m)
        eq("links: records_out +M+N (MESSAGE and OPEN)", d("records_out"), m + n)
        eq("links: bytes_in +M * (14 + payload)", d("bytes_in"), m * (14 + size))
        ge("links: bytes_out >= M * (14 + payload) + N * 14", d("bytes_out"),
           m * (14 + size) + n * 14)
        eq("links: queued_bytes == 0 once all is echoed",
           link_sum(st, "u", s1, "queued_bytes"), 0)
        eq("links: unknown_session == 0", link_sum(st, "u", s1, "unknown_session"), 0)
        eq("links: no approvals asked", (link_sum(st, "u", s1, "approved"),
           link_sum(st, "u", s1, "rejected"), link_sum(st, "u", s1, "approve_timeouts")),
           (0, 0, 0))

        def rtt(s):
            return min((e or {}).get("rtt_us", 0)
                       for e in link_entries(s, WEIRD, s1).values())

        ge("links: rtt_us > 0 for the heartbeating upstream (every worker)",
           rtt(wait_for(lambda: (lambda s: s if rtt(s) > 0 else None)(ngx.status()), 2)
               or ngx.status()), 1)

        # the backend dies: its sessions are lost, its links go down
        before = st
        backend.kill()
        codes = []
        for c in conns:
            try:
                c.s.settimeout(3)
                op, payload = c.recv_frame()
                codes.append((op, close_code(payload)))
            except (OSError, EOFError):
                codes.append(None)
        eq("links: every session closed with 1011", codes, [(0x8, 1011)] * n)
        for c in conns:
            c.close()
        conns = []
        st = wait_for(lambda: (lambda s: s if up(s, 0) and
                               s["totals"]["sessions"]["active"] == 0
                               else None)(ngx.status()), 3) or ngx.status()
        eq("links: ready (u, P1) == 0 in every worker",
           [e and e["links"]["ready"] for e in link_entries(st, "u", s1).values()],
           [0, 0])
        eq("links: connecting + down (u, P1) == 2 in every worker",
           [e and e["links"]["connecting"] + e["links"]["down"]
            for e in link_entries(st, "u", s1).values()], [2, 2])
        eq("links: sessions_lost +N", d("sessions_lost", before), n)
        eq("links: ends.link_lost +N", total(st, "ends", "link_lost")
           - total(before, "ends", "link_lost"), n)
        eq("links: close_codes 1011 +N", total(st, "close_codes", "1011")
           - total(before, "close_codes", "1011"), n)
        ge("links: resets +4 (2 links in 2 workers)", d("resets", before), 4)
        eq("links: sessions (u, P1) == 0", link_sum(st, "u", s1, "sessions"), 0)

        # no link: a 503
        c = Raw(wport)
        code = c.handshake("/u")
        c.close()
        eq("links: a handshake without a ready link gets 503", code, 503)
        st2 = ngx.status()
        eq("links: handshakes.unavailable +1", total(st2, "handshakes", "unavailable")
           - total(st, "handshakes", "unavailable"), 1)
        eq("links: handshakes.accepted unchanged", total(st2, "handshakes", "accepted")
           - total(st, "handshakes", "accepted"), 0)

        # the backend is back: the links reconnect
        backend = Backend(p1)
        st = wait_for(lambda: (lambda s: s if up(s, 2) and all(
            e["reconnects"] == 2 for e in link_entries(s, "u", s1).values())
            else None)(ngx.status()), 5) or ngx.status()
        for pid, e in sorted(link_entries(st, "u", s1).items()):
            eq("links: worker %d: ready == 2 again" % pid, e and e["links"]["ready"], 2)
            eq("links: worker %d: reconnects == 2" % pid, e and e["reconnects"], 2)
            ge("links: worker %d: connects >= 4" % pid, e and e["connects"], 4)

        # totals == the sum of the workers, per (upstream, server)
        keys = sorted(set((e["upstream"], e["server"])
                          for w in st["workers"] for e in w["links"]))
        tl = {(e["upstream"], e["server"]): e for e in st["totals"]["links"]}
        eq("links: totals.links lists each (upstream, server) once",
           sorted(tl), keys)
        bad = []
        for k in keys:
            es = [e for e in link_entries(st, *k).values() if e]
            t = tl.get(k, {"links": {}})
            for f in list(es[0]):
                if f in ("upstream", "server"):
                    continue
                if f == "links":
                    for g in es[0]["links"]:
                        if t["links"].get(g) != sum(e["links"][g] for e in es):
                            bad.append((k, g))
                elif f in ("rtt_us", "high_watermark", "low_watermark"):
                    if t.get(f) != max(e[f] for e in es):
                        bad.append((k, f))
                elif t.get(f) != sum(e[f] for e in es):
                    bad.append((k, f))
        eq("links: totals.links == sum over the workers (rtt_us, watermarks: "
           "the max)", bad, [])

        # Prometheus: it parses, and says what the JSON says
        status, _, body = ngx.get("/status?format=prometheus")
        st = ngx.status()
        text = body.decode()
        with open(os.path.join(ARGS.out, "links.prom"), "w") as f:
            f.write(text)
        r = subprocess.run([ARGS.promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        true("links: promtool check metrics passes", r.returncode == 0,
             "exit %d%s" % (r.returncode, (": " + out[:500]) if out else ""))
        series = prom_series(text)

        def ps(name, **labels):
            return sum(v for nm, ls, v in series if nm == name
                       and all(ls.get(k) == x for k, x in labels.items()))

        for metric, key, labels in (
                ("ws_gateway_link_connections", "ready", {"state": "ready"}),
                ("ws_gateway_link_records_total", "records_in", {"direction": "in"}),
                ("ws_gateway_link_records_total", "records_out", {"direction": "out"}),
                ("ws_gateway_link_bytes_total", "bytes_in", {"direction": "in"}),
                ("ws_gateway_link_sessions_lost_total", "sessions_lost", {}),
                ("ws_gateway_link_reconnects_total", "reconnects", {})):
            eq("links: prometheus %s%s (u, P1) == JSON %s"
               % (metric, labels or "", key),
               ps(metric, upstream="u", server=s1, **labels),
               float(link_sum(st, "u", s1, key)))
        eq("links: prometheus series of the escaped upstream name",
           len([1 for nm, ls, v in series if nm == "ws_gateway_link_connections"
                and ls.get("upstream") == WEIRD]), 2 * 3)
        names = set(nm for nm, _, _ in series if nm.startswith("ws_gateway_link_"))
        bad = [nm for nm in names if ("_total" in nm) != any(
            line == "# TYPE %s counter" % nm for line in text.splitlines())]
        eq("links: counters (and only they) end in _total", bad, [])
        labelsets = [tuple(sorted(ls)) for nm, ls, _ in series
                     if nm.startswith("ws_gateway_link_")]
        true("links: every link series has worker, pid, upstream, server labels",
             labelsets and all({"worker", "pid", "upstream", "server"} <= set(x)
                               for x in labelsets), "%d series" % len(labelsets))

        # the dashboard's links table, in headless Chromium, with messages
        # flowing
        echo = Raw(wport)
        eq("links: a handshake once the links are back gets 101",
           echo.handshake("/u"), 101)
        stop = threading.Event()

        def pump():
            try:
                while not stop.is_set():
                    echo.send_frame(0x1, "x" * 50)
                    echo.recv_frame()
                    time.sleep(0.01)
            except (OSError, EOFError):
                pass

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        r = subprocess.run([ARGS.node, os.path.join(ARGS.here, "dashboard.js"),
                            ngx.url("/status?format=html"),
                            os.path.join(ARGS.out, "dashboard-links.png"),
                            os.path.join(ARGS.out, "chromium-profile")],
                           capture_output=True, text=True, timeout=60,
                           cwd=ARGS.here)
        stop.set()
        th.join(2)
        echo.close()
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = None
        if not res:
            true("links: dashboard ran", False, "exit %d, %r" % (r.returncode,
                                                                 r.stderr[-300:]))
            return
        log("dashboard links table: %r" % res.get("linksText"))
        eq("links: dashboard links table has a row per (upstream, server)",
           res.get("linkRows"), 3)
        true("links: dashboard shows the upstream name as text (HTML-escaped)",
             'w"q\\b' in (res.get("linksText") or "")
             and "\xe9<i>" in (res.get("linksText") or "")
             and "<i>" not in (res.get("linksHtml") or ""),
             repr(res.get("linksHtml"))[:300])
        rows = [l.split("\t") for l in (res.get("linksText") or "").splitlines()]
        p1row = [x for x in rows if len(x) >= 11 and x[0] == "u" and x[1] == s1]
        true("links: dashboard records in/s for (u, P1) > 0 while messages flow",
             p1row and p1row[0][8] not in ("-", "0"), repr(p1row))
        eq("links: dashboard page and console errors",
           (res["pageErrors"], res["consoleErrors"]), ([], []))
    finally:
        for c in conns:
            c.close()
        ngx.stop()
        backend.kill()
    check_log(ngx)


# --- 20. channels, fan-out, failover, link watermarks ------------------------------

class LinkBackend:
    """
    A minimal backend of the link protocol (docs/protocol.md), written for
    this test: it answers HELLO (with CHANNELS) and PING, remembers each
    link's worker pid and the sessions OPENed on it, logs every record it
    gets, and sends PUBLISH, BROADCAST, SUBSCRIBE, UNSUBSCRIBE and SEND
    when the test says so.  With paused set, it stops reading its links.
    """

    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.links = []               # dicts: sock, pid, sessions, uris
        self.events = []              # (pid, type, flags, body)
        self.paused = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        BACKENDS.append(self)

    def _accept(self):
        while not self.stopped.is_set():
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            link = {"sock": s, "pid": None, "sessions": {}, "wlock": threading.Lock()}
            threading.Thread(target=self._serve, args=(link,), daemon=True).start()

    def _write(self, link, rtype, flags, body=b""):
        with link["wlock"]:
            link["sock"].sendall(struct.pack(">IBB", len(body) + 2, rtype, flags) + body)

    def _serve(self, link):
        s, buf = link["sock"], b""
        s.settimeout(0.2)
        try:
            while not self.stopped.is_set():
                if self.paused.is_set():
                    time.sleep(0.05)
                    continue
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                buf += d
                while len(buf) >= 4:
                    n = struct.unpack(">I", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    rtype, flags, body = buf[4], buf[5], buf[6:4 + n]
                    buf = buf[4 + n:]
                    self._record(link, rtype, flags, body)
        except OSError:
            pass
        finally:
            with self.lock:
                if link in self.links:
                    self.links.remove(link)
            try:
                s.close()
            except OSError:
                pass

    def _record(self, link, rtype, flags, body):
        if rtype == 0x01:                                   # HELLO
            off = 10
            while off + 3 <= len(body):
                ft, fl = body[off], struct.unpack(">H", body[off + 1:off + 3])[0]
                if ft == 0x03 and fl >= 4:                  # WORKER
                    link["pid"] = struct.unpack(">I", body[off + 3:off + 7])[0]
                off += 3 + fl
            self._write(link, 0x01, 0, struct.pack(">HII", 1, 0x1, 1 << 21))
            with self.lock:
                self.links.append(link)
            return
        if rtype == 0x02:                                   # PING
            self._write(link, 0x03, 0, body)
            return
        sid = struct.unpack(">Q", body[:8])[0] if len(body) >= 8 else None
        with self.lock:
            self.events.append((link["pid"], rtype, flags, body))
            if rtype == 0x10:                               # OPEN
                uri, off = None, 8
                while off + 3 <= len(body):
                    ft, fl = body[off], struct.unpack(">H", body[off + 1:off + 3])[0]
                    if ft == 0x11:
                        uri = body[off + 3:off + 3 + fl].decode("latin-1")
                    off += 3 + fl
                link["sessions"][sid] = uri
            elif rtype == 0x12:                             # CLOSE
                link["sessions"].pop(sid, None)

    def by_pid(self):
        """One ready link per worker pid."""
        with self.lock:
            out = {}
            for l in self.links:
                out.setdefault(l["pid"], l)
            return out

    def sessions(self):
        """{sid: (pid, uri)} over every link."""
        with self.lock:
            return {sid: (l["pid"], uri) for l in self.links
                    for sid, uri in l["sessions"].items()}

    def link_of(self, sid):
        with self.lock:
            for l in self.links:
                if sid in l["sessions"]:
                    return l
        return None

    def count(self, rtype):
        with self.lock:
            return len([e for e in self.events if e[1] == rtype])

    def publish(self, link, channel, text):
        ch = channel.encode()
        self._write(link, 0x32, 0, struct.pack(">H", len(ch)) + ch + text.encode())

    def broadcast(self, link, text):
        self._write(link, 0x33, 0, text.encode())

    def command(self, link, rtype, sid, data):
        self._write(link, rtype, 0, struct.pack(">Q", sid) + data.encode())

    def kill(self):
        self.stopped.set()
        try:
            self.ls.close()
        except OSError:
            pass
        with self.lock:
            links, self.links = self.links, []
        for l in links:
            try:
                l["sock"].shutdown(socket.SHUT_RDWR)
                l["sock"].close()
            except OSError:
                pass
        time.sleep(0.3)                 # the serving threads notice
        if self in BACKENDS:
            BACKENDS.remove(self)


def test_channels():
    """
    2 workers, an upstream c whose one server is the test's LinkBackend
    (1 link per worker); location /c subscribes each session to "room"
    and to $arg_u (empty for some: nothing), at most 3 channels each.
    Ground truth: the sessions the test opens and where the backend saw
    their OPEN, the records the backend sends, the backend it kills and
    restarts.
    """
    port = ARGS.port + 50
    bport = ARGS.port + 51
    high, low = 256 * 1024, 64 * 1024
    http = """    upstream c {
        server 127.0.0.1:%d max_fails=0;
        ws_gateway_links 1;
        ws_gateway_link_heartbeat 60s;
        ws_gateway_link_backoff 100ms 200ms;
        ws_gateway_link_high_watermark %d;
        ws_gateway_link_low_watermark %d;
    }
    server {
        listen 127.0.0.1:%d;
        location /c {
            ws_gateway_pass c;
            ws_gateway_subscribe room;
            ws_gateway_subscribe $arg_u;
            ws_gateway_session_channels 3;
            ws_gateway_failover_timeout 3s;
            ws_gateway_failover_close 1013 1s;
        }
    }
""" % (bport, high, low, port + 9)
    wport = port + 9
    backend = LinkBackend(bport)
    ngx = Nginx("channels", port, workers=2, http=http).start()
    conns = []
    cname = "channels"

    def pids_up():
        return len(backend.by_pid()) == 2

    def tot(st, obj, key):
        return total(st, obj, key)

    def links_c(st):
        return link_entries(st, "c", "127.0.0.1:%d" % bport)

    def settle(fn, timeout=3):
        return wait_for(lambda: (lambda s: s if fn(s) else None)(ngx.status()),
                        timeout) or ngx.status()

    try:
        if not wait_for(pids_up, 5):
            true("%s: a link from every worker" % cname, False,
                 "%r" % list(backend.by_pid()))
            return
        st = settle(lambda s: all(e and e["links"]["ready"] == 1
                                  for e in links_c(s).values()))

        # the keys exist, per worker and in the totals, at 0
        ck = ["channels", "subscriptions", "fanouts_running", "publishes",
              "broadcasts", "unrouted", "deliveries", "refused",
              "unsubscribed_unknown", "fanout_slices", "fanout_slice_max_us",
              "fanout_max_us"]
        fk = ["orphaned", "held_bytes", "sessions_lost_link", "reannounced",
              "failover_closed"]
        lk = ["high_watermark", "low_watermark", "sessions_paused", "pauses"]
        eq("%s: channels keys, per worker and totals" % cname,
           [sorted(w.get("channels", {})) for w in st["workers"] + [st["totals"]]],
           [sorted(ck)] * 3)
        eq("%s: failover keys, per worker and totals" % cname,
           [sorted(w.get("failover", {})) for w in st["workers"] + [st["totals"]]],
           [sorted(fk)] * 3)
        eq("%s: all 0 before any session" % cname,
           [v for w in st["workers"] for o in ("channels", "failover")
            for v in w[o].values() if v], [])
        eq("%s: drops has session_cap, no_link, gone; pauses has link, no_link"
           % cname, (all(k in st["totals"]["drops"] for k in
                         ("session_cap", "no_link", "gone")),
                     all(k in st["totals"]["pauses"] for k in ("link", "no_link"))),
           (True, True))
        for pid, e in sorted(links_c(st).items()):
            eq("%s: worker %d link entry: watermarks as configured, 0 paused"
               % (cname, pid), e and [e.get(k) for k in lk], [high, low, 0, 0])
        tl = [e for e in st["totals"]["links"] if e["upstream"] == "c"]
        eq("%s: totals.links watermarks are the max, not the sum" % cname,
           tl and (tl[0]["high_watermark"], tl[0]["low_watermark"]), (high, low))

        # sessions: room, and u<i> for half of them
        n = 8
        for i in range(n):
            c = Raw(wport)
            path = "/c?u=u%d" % i if i % 2 == 0 else "/c"
            if c.handshake(path) != 101:
                raise RuntimeError("handshake to %s failed" % path)
            conns.append(c)
        wait_for(lambda: len(backend.sessions()) == n, 3)
        sess = backend.sessions()
        eq("%s: the backend saw N OPENs" % cname, len(sess), n)
        want_subs, want_chans = {}, {}
        for sid, (pid, uri) in sess.items():
            want_subs[pid] = want_subs.get(pid, 0) + (2 if "u=" in uri else 1)
            want_chans.setdefault(pid, {"room"})
            if "u=" in uri:
                want_chans[pid].add(uri.split("u=")[1])
        st = ngx.status()
        wm = worker_map(st)
        eq("%s: subscriptions per worker == its sessions + those with u" % cname,
           {p: wm[p]["channels"]["subscriptions"] for p in wm},
           {p: want_subs.get(p, 0) for p in wm})
        eq("%s: channels per worker == distinct names its sessions hold" % cname,
           {p: wm[p]["channels"]["channels"] for p in wm},
           {p: len(want_chans.get(p, ())) for p in wm})
        eq("%s: totals.channels.subscriptions == N + N/2" % cname,
           st["totals"]["channels"]["subscriptions"], n + n // 2)

        # the dashboard's channels line, in headless Chromium
        r = subprocess.run([ARGS.node, os.path.join(ARGS.here, "dashboard.js"),
                            ngx.url("/status?format=html"),
                            os.path.join(ARGS.out, "dashboard-channels.png"),
                            os.path.join(ARGS.out, "chromium-profile")],
                           capture_output=True, text=True, timeout=60,
                           cwd=ARGS.here)
        try:
            res = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {}
        rows = [x.split("\t") for x in (res.get("chanText") or "").splitlines()]
        tc = ngx.status()["totals"]["channels"]
        eq("%s: dashboard channels row: channels, subscriptions == totals" % cname,
           rows[1][:2] if len(rows) == 2 else rows,
           [str(tc["channels"]), str(tc["subscriptions"])])
        eq("%s: dashboard page and console errors" % cname,
           (res.get("pageErrors"), res.get("consoleErrors")), ([], []))

        # PUBLISH room on one link per worker: every session gets it once
        before = st
        links = backend.by_pid()
        for l in links.values():
            backend.publish(l, "room", "to-room")
        got = []
        for c in conns:
            c.s.settimeout(3)
            got.append(c.recv_frame())
        eq("%s: every session got the room PUBLISH" % cname, got,
           [(0x1, b"to-room")] * n)
        for l in links.values():
            backend.publish(l, "nobody-here", "x")
            backend.broadcast(l, "to-all")
        got = []
        for c in conns:
            got.append(c.recv_frame())
        eq("%s: every session got the BROADCAST (and not the unrouted PUBLISH)"
           % cname, got, [(0x1, b"to-all")] * n)
        st = settle(lambda s: tot(s, "channels", "unrouted")
                    - tot(before, "channels", "unrouted") >= 2, 2)

        def d(obj, key, a=None, b=None):
            return tot(b or st, obj, key) - tot(a or before, obj, key)

        eq("%s: publishes +4 (room and nobody-here, once per worker)" % cname,
           d("channels", "publishes"), 4)
        eq("%s: broadcasts +2" % cname, d("channels", "broadcasts"), 2)
        eq("%s: unrouted +2" % cname, d("channels", "unrouted"), 2)
        eq("%s: deliveries +2N (room and broadcast)" % cname,
           d("channels", "deliveries"), 2 * n)
        ge("%s: fanout_slices +>=2" % cname, d("channels", "fanout_slices"), 2)
        eq("%s: fanouts_running == 0 once delivered" % cname,
           tot(st, "channels", "fanouts_running"), 0)
        ge("%s: fanout_max_us >= fanout_slice_max_us (totals)" % cname,
           st["totals"]["channels"]["fanout_max_us"],
           st["totals"]["channels"]["fanout_slice_max_us"])
        eq("%s: totals fanout_max_us == the max over workers" % cname,
           st["totals"]["channels"]["fanout_max_us"],
           max(w["channels"]["fanout_max_us"] for w in st["workers"]))

        # SUBSCRIBE from the backend, up to the cap; UNSUBSCRIBE unknown
        before = st
        sid, (pid, uri) = next((k, v) for k, v in sorted(sess.items()) if "u=" in v[1])
        l = backend.link_of(sid)
        backend.command(l, 0x30, sid, "extra")          # 3rd: fine
        backend.command(l, 0x30, sid, "extra")          # held: no-op
        backend.command(l, 0x30, sid, "more")           # 4th: REFUSED 2
        backend.command(l, 0x31, sid, "not-held")       # counted
        backend.command(l, 0x30, 12345, "x")            # no such session
        backend.command(l, 0x20, 12345, "x")            # SEND, likewise
        wait_for(lambda: backend.count(0x13) >= 2, 2)
        st = settle(lambda s: d("channels", "unsubscribed_unknown", before, s) >= 1, 2)
        wm, bm = worker_map(st), worker_map(before)
        eq("%s: SUBSCRIBE: that worker's subscriptions +1, channels +1" % cname,
           (wm[pid]["channels"]["subscriptions"] - bm[pid]["channels"]["subscriptions"],
            wm[pid]["channels"]["channels"] - bm[pid]["channels"]["channels"]), (1, 1))
        eq("%s: refused +1 (a 4th channel)" % cname, d("channels", "refused"), 1)
        refused = [e for e in backend.events if e[1] == 0x14]
        eq("%s: the backend got REFUSED (sid, SUBSCRIBE, code 2)" % cname,
           [e[3] for e in refused], [struct.pack(">QBB", sid, 0x30, 2)])
        eq("%s: unsubscribed_unknown +1" % cname, d("channels", "unsubscribed_unknown"), 1)
        eq("%s: links unknown_session +2 (SUBSCRIBE and SEND for no session)"
           % cname, link_sum(st, "c", "127.0.0.1:%d" % bport, "unknown_session")
           - link_sum(before, "c", "127.0.0.1:%d" % bport, "unknown_session"), 2)
        # a message dropped: the SEND; a SUBSCRIBE drops no message
        eq("%s: drops.gone +1 (the SEND for no session)" % cname,
           d("drops", "gone"), 1)

        # every session ends: its subscriptions are freed
        for c in conns:
            c.send_frame(0x8, struct.pack("!H", 1000))
        for c in conns:
            c.eof(3)
            c.close()
        conns = []
        st = settle(lambda s: s["totals"]["sessions"]["active"] == 0
                    and s["totals"]["channels"]["subscriptions"] == 0, 3)
        eq("%s: subscriptions and channels back to 0 after the closes" % cname,
           (st["totals"]["channels"]["subscriptions"],
            st["totals"]["channels"]["channels"]), (0, 0))

        # failover: the backend goes, sessions wait, it comes back
        before = st
        for i in range(2):
            c = Raw(wport)
            if c.handshake("/c?u=f%d" % i) != 101:
                raise RuntimeError("handshake to /c failed")
            conns.append(c)
        wait_for(lambda: len(backend.sessions()) == 2, 3)
        backend.kill()
        st = settle(lambda s: s["totals"]["failover"]["orphaned"] == 2, 2)
        eq("%s: orphaned == 2 once the link is gone" % cname,
           st["totals"]["failover"]["orphaned"], 2)
        eq("%s: sessions_lost_link +2" % cname, d("failover", "sessions_lost_link"), 2)
        eq("%s: links sessions_lost +2" % cname,
           link_sum(st, "c", "127.0.0.1:%d" % bport, "sessions_lost")
           - link_sum(before, "c", "127.0.0.1:%d" % bport, "sessions_lost"), 2)
        eq("%s: the orphans keep their subscriptions" % cname,
           st["totals"]["channels"]["subscriptions"], 4)
        conns[0].send_frame(0x1, "while-away")
        st = settle(lambda s: d("pauses", "no_link", before, s) >= 1, 2)
        ge("%s: pauses.no_link +>=1 (a client sent while no link)" % cname,
           d("pauses", "no_link"), 1)
        backend = LinkBackend(bport)
        st = settle(lambda s: s["totals"]["failover"]["orphaned"] == 0
                    and d("failover", "reannounced", before, s) >= 2, 3)
        eq("%s: reannounced +2, orphaned 0 when a link is back" % cname,
           (d("failover", "reannounced"), st["totals"]["failover"]["orphaned"]),
           (2, 0))
        eq("%s: held_bytes 0 after the re-announce" % cname,
           st["totals"]["failover"]["held_bytes"], 0)
        eq("%s: failover_closed unchanged" % cname, d("failover", "failover_closed"), 0)
        reopen = [e for e in backend.events if e[1] == 0x10 and e[2] & 0x01]
        eq("%s: the backend got 2 OPENs with REANNOUNCE" % cname, len(reopen), 2)

        # link watermark: the backend stops reading, a client sends much
        before = st
        backend.paused.set()
        stop = threading.Event()

        def flood(c):
            try:
                while not stop.is_set():
                    c.send_frame(0x2, b"\0" * 32768)
            except OSError:
                pass

        th = threading.Thread(target=flood, args=(conns[0],), daemon=True)
        th.start()
        st = settle(lambda s: link_sum(s, "c", "127.0.0.1:%d" % bport,
                                       "sessions_paused") >= 1, 8)
        eq("%s: sessions_paused == 1 while the link is at its high watermark"
           % cname, link_sum(st, "c", "127.0.0.1:%d" % bport, "sessions_paused"), 1)
        ge("%s: links pauses +>=1" % cname,
           link_sum(st, "c", "127.0.0.1:%d" % bport, "pauses")
           - link_sum(before, "c", "127.0.0.1:%d" % bport, "pauses"), 1)
        ge("%s: pauses.link +>=1" % cname, d("pauses", "link"), 1)
        ge("%s: link queued_bytes >= low watermark while paused" % cname,
           link_sum(st, "c", "127.0.0.1:%d" % bport, "queued_bytes"), low)
        stop.set()
        backend.paused.clear()
        st = settle(lambda s: link_sum(s, "c", "127.0.0.1:%d" % bport,
                                       "sessions_paused") == 0, 8)
        eq("%s: sessions_paused back to 0 once the backend reads" % cname,
           link_sum(st, "c", "127.0.0.1:%d" % bport, "sessions_paused"), 0)
        th.join(5)

        # failover timeout: the backend goes for good
        before = st
        backend.kill()
        codes = []
        for c in conns:
            try:
                c.s.settimeout(6)
                while True:
                    op, payload = c.recv_frame()
                    if op == 0x8:
                        codes.append(close_code(payload))
                        break
            except (OSError, EOFError):
                codes.append(None)
        eq("%s: both sessions closed with 1013 after the failover timeout"
           % cname, codes, [1013, 1013])
        st = settle(lambda s: d("failover", "failover_closed", before, s) >= 2, 2)
        eq("%s: failover_closed +2" % cname, d("failover", "failover_closed"), 2)
        eq("%s: orphaned and held_bytes 0 at the end" % cname,
           (st["totals"]["failover"]["orphaned"], st["totals"]["failover"]["held_bytes"]),
           (0, 0))

        # Prometheus: it parses and says what the JSON says
        status, _, body = ngx.get("/status?format=prometheus")
        st = ngx.status()
        text = body.decode()
        with open(os.path.join(ARGS.out, "channels.prom"), "w") as f:
            f.write(text)
        r = subprocess.run([ARGS.promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        true("%s: promtool check metrics passes" % cname, r.returncode == 0,
             "exit %d%s" % (r.returncode, (": " + out[:500]) if out else ""))
        series = prom_series(text)

        def ps(name, **labels):
            return sum(v for nm, ls, v in series if nm == name
                       and all(ls.get(k) == x for k, x in labels.items()))

        bad = []
        for metric, obj, key in (
                ("ws_gateway_channels", "channels", "channels"),
                ("ws_gateway_channels_subscriptions", "channels", "subscriptions"),
                ("ws_gateway_channels_publishes_total", "channels", "publishes"),
                ("ws_gateway_channels_broadcasts_total", "channels", "broadcasts"),
                ("ws_gateway_channels_unrouted_total", "channels", "unrouted"),
                ("ws_gateway_channels_deliveries_total", "channels", "deliveries"),
                ("ws_gateway_channels_refused_total", "channels", "refused"),
                ("ws_gateway_channels_unsubscribed_unknown_total", "channels",
                 "unsubscribed_unknown"),
                ("ws_gateway_channels_fanout_slices_total", "channels", "fanout_slices"),
                ("ws_gateway_failover_orphaned_sessions", "failover", "orphaned"),
                ("ws_gateway_failover_held_bytes", "failover", "held_bytes"),
                ("ws_gateway_failover_sessions_lost_link_total", "failover",
                 "sessions_lost_link"),
                ("ws_gateway_failover_reannounced_total", "failover", "reannounced"),
                ("ws_gateway_failover_closed_total", "failover", "failover_closed")):
            if ps(metric) != float(tot(st, obj, key)):
                bad.append((metric, ps(metric), tot(st, obj, key)))
        want = max(w["channels"]["fanout_max_us"] for w in st["workers"]) / 1e6
        got = max([v for nm, ls, v in series
                   if nm == "ws_gateway_channels_fanout_max_seconds"] or [-1])
        if abs(got - want) > 1e-6:
            bad.append(("ws_gateway_channels_fanout_max_seconds", got, want))
        eq("%s: prometheus families == JSON (sums over workers)" % cname, bad, [])
        srv = "127.0.0.1:%d" % bport
        eq("%s: prometheus link watermarks, sessions_paused, pauses == JSON" % cname,
           [ps(m, upstream="c", server=srv) for m in (
               "ws_gateway_link_high_watermark_bytes",
               "ws_gateway_link_low_watermark_bytes",
               "ws_gateway_link_sessions_paused", "ws_gateway_link_pauses_total")],
           [float(link_sum(st, "c", srv, k)) for k in lk])
        eq("%s: prometheus drops and pauses by the new reasons == JSON" % cname,
           [ps("ws_gateway_drops_total", reason=r) for r in ("session_cap", "no_link", "gone")]
           + [ps("ws_gateway_pauses_total", reason=r) for r in ("link", "no_link")],
           [float(tot(st, "drops", r)) for r in ("session_cap", "no_link", "gone")]
           + [float(tot(st, "pauses", r)) for r in ("link", "no_link")])
    finally:
        for c in conns:
            c.close()
        ngx.stop()
        backend.kill()
    check_log(ngx)


# --- main ------------------------------------------------------------------------


def run_tests(tests):
    for name, fn in tests:
        if ONLY and ONLY not in name:
            continue
        t = time.time()
        log("--- %s" % name)
        try:
            fn()
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a test that breaks is a failed check
            import traceback
            traceback.print_exc(file=sys.stdout)
            record("%s: ran to the end" % name, False, "%s: %s"
                   % (type(e).__name__, e))
        log("%s took %.1f s" % (name, time.time() - t))


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", required=True)
    ap.add_argument("--test-module", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--here", required=True)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--promtool", default="promtool")
    ap.add_argument("--node", default="node")
    ap.add_argument("--port", type=int, default=2500)
    ARGS = ap.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    prom = {}
    tests = [("sessions", test_sessions), ("rates", test_rates),
             ("stall", test_stall), ("drops", lambda: test_drops(prom)),
             ("prometheus", lambda: test_prometheus(prom)),
             ("dashboard", test_dashboard), ("workers", test_workers),
             ("reload", test_reload), ("single", test_single),
             ("liveness", test_liveness), ("seqlock", test_seqlock),
             ("iterations", test_iterations), ("timestamps", test_timestamps),
             ("stampcount", test_stamp_count), ("passes", test_passes),
             ("grow", test_grow), ("slotbound", test_slot_bound),
             ("lateworkers", test_late_workers), ("links", test_links),
             ("channels", test_channels)]
    t_start = time.time()
    try:
        run_tests(tests)
    except KeyboardInterrupt:
        record("run", False, "interrupted")
    finally:
        for load in LOADS:
            load.stop()
        for ngx in list(RUNNING):
            ngx.stop()
        for b in list(BACKENDS):
            b.kill()
    log("total %.1f s" % (time.time() - t_start))
    print("metrics: %d passed, %d failed" % (PASSED, FAILED), flush=True)
    return 0 if FAILED == 0 and PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
