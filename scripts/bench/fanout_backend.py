#!/usr/bin/env python3
"""fanout_backend.py: the publishing backend of fanout-bench.sh.

A backend of the link protocol (docs/protocol.md, version 1) that holds
the gateway's links, answers PINGs, optionally echoes MESSAGEs (--echo),
and publishes one message at a known instant when told to on its
control FIFO.  Python 3, standard library only.

    fanout_backend.py --listen 127.0.0.1:3801 --control FIFO \\
        [--mode publish|send] [--channel bench] [--size 64] [--echo] \\
        [--max-time 600]

Control commands, one a line:

    publish SEQ [OFFSET_MS]  at once, or at the next whole second of the
                             wall clock plus OFFSET_MS: a SEQ message of
                             --size bytes, "fanout SEQ T0 ..." (T0: the
                             CLOCK_MONOTONIC microsecond taken just
                             before the first write), written on ONE
                             link per gateway worker (links grouped by
                             the HELLO's NAME and WORKER pid), one after
                             the other at once.  --mode publish: one
                             PUBLISH to --channel per worker; --mode
                             send: a SEND per session open on every link
                             (a fan-out without channels, for gateways
                             that have none), the records built first.
                             Prints "published seq=... t0_us=...".
    status                   prints "status links=... workers=...
                             sessions=..." (sessions open per worker)
    quit                     exits

Prints "fanout-backend: listening on HOST:PORT" once it listens.  It
exits by itself after --max-time seconds.
"""

import argparse
import os
import selectors
import socket
import struct
import sys
import time

HELLO, PING, PONG, ERROR = 0x01, 0x02, 0x03, 0x04
OPEN, MESSAGE, CLOSE_EV, GONE = 0x10, 0x11, 0x12, 0x13
REFUSED, DROPPED = 0x14, 0x15
SEND, PUBLISH = 0x20, 0x32
CAP_CHANNELS = 0x1
HF_NAME, HF_WORKER = 0x01, 0x03
MAX_RECORD = 1 << 20


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(line):
    sys.stderr.write("fanout-backend: " + line + "\n")
    sys.stderr.flush()


def record(rtype, flags, body):
    return struct.pack(">IBB", len(body) + 2, rtype, flags) + body


class Link:
    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.ready = False          # HELLOs exchanged
        self.group = None           # (NAME, pid)
        self.sessions = set()
        self.want_write = False


class Backend:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.links = []
        self.counts = {"opens": 0, "closes": 0, "messages": 0, "gone": 0,
                       "refused": 0, "dropped": 0, "errors": 0}
        self.pending = None         # (due realtime, seq)
        self.ctl_buf = b""
        self.stop = False

    # links

    def accept(self, lsock):
        while True:
            try:
                sock, peer = lsock.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(sock, peer)
            self.links.append(link)
            self.sel.register(sock, selectors.EVENT_READ, link)

    def drop(self, link, why):
        if why:
            err("link %s:%d: %s" % (link.peer[0], link.peer[1], why))
        try:
            self.sel.unregister(link.sock)
        except (KeyError, ValueError):
            pass
        link.sock.close()
        if link in self.links:
            self.links.remove(link)

    def write(self, link, data):
        if link.outbuf:
            link.outbuf += data
            return
        try:
            n = link.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self.drop(link, "send: %s" % e)
            return
        if n < len(data):
            link.outbuf += data[n:]
            self.watch_write(link, True)

    def watch_write(self, link, on):
        if link.want_write == on:
            return
        link.want_write = on
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        self.sel.modify(link.sock, ev, link)

    def flush(self, link):
        try:
            n = link.sock.send(link.outbuf)
        except BlockingIOError:
            return
        except OSError as e:
            self.drop(link, "send: %s" % e)
            return
        del link.outbuf[:n]
        if not link.outbuf:
            self.watch_write(link, False)

    def read(self, link):
        try:
            data = link.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as e:
            self.drop(link, "recv: %s" % e)
            return
        if not data:
            self.drop(link, None)
            return
        buf = link.inbuf
        buf += data
        pos = 0
        while len(buf) - pos >= 4:
            (length,) = struct.unpack_from(">I", buf, pos)
            if length < 2 or length > MAX_RECORD:
                self.drop(link, "bad record length %d" % length)
                return
            if len(buf) - pos < 4 + length:
                break
            rtype, flags = buf[pos + 4], buf[pos + 5]
            body = bytes(buf[pos + 6:pos + 4 + length])
            pos += 4 + length
            self.handle(link, rtype, flags, body)
            if link.sock.fileno() == -1:
                return
        del buf[:pos]

    def handle(self, link, rtype, flags, body):
        c = self.counts
        if rtype == HELLO:
            name, pid = b"", 0
            i = 10
            while i + 3 <= len(body):
                ftype, flen = body[i], struct.unpack_from(">H", body, i + 1)[0]
                val = body[i + 3:i + 3 + flen]
                if ftype == HF_NAME:
                    name = val
                elif ftype == HF_WORKER and len(val) >= 4:
                    pid = struct.unpack_from(">I", val)[0]
                i += 3 + flen
            link.group = (name, pid)
            caps = CAP_CHANNELS if self.args.mode == "publish" else 0
            hello = struct.pack(">HII", 1, caps, MAX_RECORD)
            hello += struct.pack(">BH", HF_NAME, 14) + b"fanout-backend"
            self.write(link, record(HELLO, 0, hello))
            link.ready = True
        elif rtype == PING:
            self.write(link, record(PONG, 0, body))
        elif rtype == OPEN:
            link.sessions.add(body[:8])
            c["opens"] += 1
        elif rtype == CLOSE_EV:
            link.sessions.discard(body[:8])
            c["closes"] += 1
        elif rtype == MESSAGE:
            c["messages"] += 1
            if self.args.echo:
                self.write(link, record(SEND, flags, body))
        elif rtype == GONE:
            c["gone"] += 1
        elif rtype == REFUSED:
            c["refused"] += 1
        elif rtype == DROPPED:
            c["dropped"] += 1
        elif rtype == ERROR:
            c["errors"] += 1
            code = struct.unpack_from(">H", body)[0] if len(body) >= 2 else 0
            err("ERROR %d from the gateway: %r" % (code, body[2:200]))

    # publishing

    def groups(self):
        """one ready link per gateway worker, by (NAME, pid)"""
        first = {}
        for link in self.links:
            if link.ready and link.group not in first:
                first[link.group] = link
        return [first[k] for k in sorted(first)]

    def publish(self, seq):
        a = self.args
        picked = self.groups()
        if self.args.mode == "send":
            picked = [ln for ln in self.links if ln.ready]
        t0 = time.monotonic_ns() // 1000
        head = ("fanout %d %d " % (seq, t0)).encode()
        payload = head + b"x" * max(0, a.size - len(head))
        chan = a.channel.encode()
        bufs = []
        total = 0
        for link in picked:
            if a.mode == "publish":
                data = record(PUBLISH, 0,
                              struct.pack(">H", len(chan)) + chan + payload)
            else:
                data = b"".join(record(SEND, 0, s + payload)
                                for s in link.sessions)
            bufs.append((link, data))
            total += len(data)
        # the records are built: the clock is read just before the first
        # write, and the payload's T0 is rewritten to that instant
        t0 = time.monotonic_ns() // 1000
        head2 = ("fanout %d %d " % (seq, t0)).encode()
        if len(head2) == len(head):
            bufs = [(ln, d.replace(head, head2)) for ln, d in bufs]
        else:
            t0 = int(head.split()[2])
        real = time.time()
        for link, data in bufs:
            self.write(link, data)
        t1 = time.monotonic_ns() // 1000
        out("published seq=%d t0_us=%d realtime=%.6f workers=%d links=%d "
            "write_us=%d bytes=%d mode=%s"
            % (seq, t0, real, len(self.groups()), len(picked), t1 - t0,
               total, a.mode))

    def status(self):
        per = {}
        for link in self.links:
            if link.ready:
                per.setdefault(link.group[1], 0)
                per[link.group[1]] += len(link.sessions)
        out("status links=%d ready=%d workers=%d sessions=%d %s per_worker=%s"
            % (len(self.links), sum(1 for ln in self.links if ln.ready),
               len(self.groups()), sum(per.values()),
               " ".join("%s=%d" % kv for kv in sorted(self.counts.items())),
               ",".join("%d:%d" % kv for kv in sorted(per.items()))))

    def control(self, fd):
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        self.ctl_buf += data
        while b"\n" in self.ctl_buf:
            line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if not words:
                continue
            if words[0] == "publish" and len(words) in (2, 3):
                seq = int(words[1])
                if len(words) == 3:
                    due = int(time.time()) + 1 + int(words[2]) / 1000.0
                    self.pending = (due, seq)
                else:
                    self.publish(seq)
            elif words[0] == "status":
                self.status()
            elif words[0] == "quit":
                self.stop = True
            else:
                err("unknown command %r" % line)

    def run(self):
        a = self.args
        host, port = a.listen.rsplit(":", 1)
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, int(port)))
        lsock.listen(1024)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, "listen")
        ctl = None
        if a.control:
            # read-write: the FIFO always has a writer, no EOF between
            # the script's commands
            ctl = os.open(a.control, os.O_RDWR | os.O_NONBLOCK)
            self.sel.register(ctl, selectors.EVENT_READ, "control")
        out("fanout-backend: listening on %s" % a.listen)
        end = time.monotonic() + a.max_time
        while not self.stop:
            now = time.monotonic()
            if now >= end:
                err("--max-time reached, exiting")
                break
            timeout = min(1.0, end - now)
            if self.pending:
                wait = self.pending[0] - time.time()
                if wait <= 0.0005:
                    # the last half millisecond is spun, for an exact start
                    while time.time() < self.pending[0]:
                        pass
                    seq = self.pending[1]
                    self.pending = None
                    self.publish(seq)
                    continue
                timeout = min(timeout, max(0.0, wait - 0.002))
            for key, ev in self.sel.select(timeout):
                if key.data == "listen":
                    self.accept(lsock)
                elif key.data == "control":
                    self.control(ctl)
                else:
                    link = key.data
                    if ev & selectors.EVENT_WRITE and link.outbuf:
                        self.flush(link)
                    if ev & selectors.EVENT_READ and link in self.links:
                        self.read(link)
        for link in list(self.links):
            self.drop(link, None)
        lsock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--control")
    p.add_argument("--mode", choices=("publish", "send"), default="publish")
    p.add_argument("--channel", default="bench")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--echo", action="store_true")
    p.add_argument("--max-time", type=float, default=600)
    a = p.parse_args()
    if not a.listen.startswith("127."):
        p.error("loopback addresses only")
    Backend(a).run()


if __name__ == "__main__":
    main()
