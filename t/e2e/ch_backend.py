#!/usr/bin/python3
"""The backend of t/e2e/channels.py, built on scripts/backend/gwlink.py.

    ch_backend.py HOST:PORT NAME [LOG-FILE]

A session's tag is its URI's c= argument.  It echoes what its sessions
send, except on /slow (no echo), and counts what it receives per tag:
messages "TAG N ..." (N from 0 up, in order).  With LOG-FILE, each
received message's "TAG N PID" is appended (os.write, so a SIGKILL loses
nothing it handled).  On /fan-sub it SUBSCRIBEs the session to "room2".

Controlled by JSON lines on stdin, one JSON line answered on stdout each
(after gwlink's "listening" line): stats, publish, broadcast, barrier,
sendto, pause, resume.  See Control below.
"""

import asyncio
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts", "backend"))

import gwlink  # noqa: E402


def fan_message(i, n=50):
    """The i-th of the fan-out's n messages: sizes from 1 B to 64 KiB,
    text for even i, binary for odd."""
    size = max(1, round(65536 ** (i / (n - 1))))
    if i % 2 == 0:
        pat = ("%d:" % i) + "abcdefghijklmnopqrstuvwxyz0123456789é✓" * 2000
        data = pat.encode("utf-8")[:size]
        # cut on a character boundary, padded with ASCII
        while True:
            try:
                text = data.decode("utf-8")
                break
            except UnicodeDecodeError:
                data = data[:-1]
        return text + "." * (size - len(data))
    return bytes(((i * 7 + j) * 31) & 0xff for j in range(size))


def tag_of(session):
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(session.uri or "").query)
    return q.get("c", [""])[0]


class Backend:
    def __init__(self, name, logpath):
        self.name = name
        self.log = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                           0o644) if logpath else None
        self.server = None
        self.opens = []             # tags of plain OPENs
        self.reannounce = []        # what each REANNOUNCE said
        self.recv = {}              # tag -> messages
        self.next = {}              # tag -> the N expected next
        self.order_errors = 0
        self.dropped = {}           # tag -> DROPPED total
        self.closes = []
        self.link_opens = 0
        self.link_closes = 0
        self.paused = False
        self.pongs = {}

    # --- gwlink callbacks

    def on_start(self, server):
        self.server = server
        # kept: the loop holds only a weak reference to a task
        self.control_task = asyncio.get_running_loop().create_task(
            self.control())

    def on_link_open(self, link):
        self.link_opens += 1
        if self.paused:
            link.writer.transport.pause_reading()

    def on_link_close(self, link):
        self.link_closes += 1

    def on_open(self, s):
        self.opens.append(tag_of(s))
        if s.path == "/fan-sub":
            s.subscribe("room2")

    def on_reannounce(self, s, info):
        self.reannounce.append({"tag": tag_of(s), "sid": s.id,
                                "known": info.known,
                                "channels": info.channels,
                                "dropped": info.dropped,
                                "unsent": info.unsent,
                                "unconfirmed": info.unconfirmed})

    def on_message(self, s, data, binary):
        tag = tag_of(s)
        self.recv[tag] = self.recv.get(tag, 0) + 1
        if not binary:
            parts = data.split(" ", 2)
            if len(parts) >= 2 and parts[0] == tag and parts[1].isdigit():
                n = int(parts[1])
                if n != self.next.get(tag, 0):
                    self.order_errors += 1
                self.next[tag] = n + 1
                if self.log is not None:
                    os.write(self.log, ("%s %d %d\n" % (tag, n, os.getpid())
                                        ).encode())
        if s.path != "/slow":
            s.send(data, binary)

    def on_dropped(self, s, count):
        tag = tag_of(s)
        self.dropped[tag] = self.dropped.get(tag, 0) + count

    def on_close(self, s, code, by, reason):
        self.closes.append({"tag": tag_of(s), "code": code, "by": by,
                            "reason": reason, "lost": s.lost})

    def on_pong(self, link, opaque):
        f = self.pongs.pop(opaque, None)
        if f is not None and not f.done():
            f.set_result(True)

    # --- control

    def _ready(self):
        return [k for k in self.server.links if k.ready]

    async def barrier(self):
        """A PING on every link, and its PONG: what was written before
        has been handled by the gateway."""
        loop = asyncio.get_running_loop()
        waits = []
        for k in self._ready():
            opaque = id(k) ^ int(loop.time() * 1e6)
            f = loop.create_future()
            self.pongs[opaque] = f
            k.ping(opaque)
            waits.append(f)
        await self.server.flush()
        await asyncio.wait_for(asyncio.gather(*waits), 20)
        return len(waits)

    async def do(self, c):
        cmd = c["cmd"]
        if cmd == "stats":
            live = [s for s in self.server.sessions()
                    if s.state in ("open", "closing")]
            return {"opens": self.opens, "reannounce": self.reannounce,
                    "recv": self.recv, "order_errors": self.order_errors,
                    "dropped": self.dropped, "closes": self.closes,
                    "live": sorted(tag_of(s) for s in live),
                    "links": len(self._ready()),
                    "link_opens": self.link_opens,
                    "link_closes": self.link_closes,
                    "groups": len(self.server.groups())}
        if cmd == "publish":
            n = 0
            for i in range(c["n"]):
                m = fan_message(i, c["n"])
                n = self.server.publish(c["channel"], m,
                                        binary=isinstance(m, bytes))
            await self.server.flush()
            return {"links": n}
        if cmd == "broadcast":
            if "hex" in c:
                n = self.server.broadcast(bytes.fromhex(c["hex"]), True)
            else:
                n = self.server.broadcast(c["text"])
            await self.server.flush()
            return {"links": n}
        if cmd == "barrier":
            return {"links": await self.barrier()}
        if cmd == "sendto":
            sent = 0
            for s in self.server.sessions():
                if tag_of(s) != c["tag"] or s.state != "open":
                    continue
                for i in range(c["n"]):
                    head = "%s %d " % (c["tag"], i)
                    s.send(head + "x" * (c["size"] - len(head)))
                    sent += 1
            await self.server.flush()
            return {"sent": sent}
        if cmd == "pause":
            self.paused = True
            for k in self.server.links:
                k.writer.transport.pause_reading()
            return {"links": len(self.server.links)}
        if cmd == "resume":
            self.paused = False
            for k in self.server.links:
                if not k.closed:
                    k.writer.transport.resume_reading()
            return {"links": len(self.server.links)}
        return {"error": "unknown command %r" % cmd}

    async def control(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            try:
                out = await self.do(json.loads(line))
            except Exception as e:  # noqa: BLE001 - answered, not fatal
                out = {"error": "%s: %s" % (type(e).__name__, e)}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        print("usage: ch_backend.py HOST:PORT NAME [LOG-FILE]",
              file=sys.stderr)
        sys.exit(2)
    gwlink.serve(Backend(sys.argv[2], sys.argv[3] if len(sys.argv) > 3
                         else None), sys.argv[1], name=sys.argv[2],
                 detach_timeout=60.0)
