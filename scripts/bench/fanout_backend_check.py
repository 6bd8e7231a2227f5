#!/usr/bin/env python3
"""fanout_backend_check.py [PORT]: checks fanout_backend.py against a
fake gateway (three links from two worker pids): its HELLO announces
CHANNELS, a PING gets its PONG, and "publish" writes one PUBLISH
(channel "bench", flags 0, a 64-byte "fanout SEQ T0 " payload) on ONE
link per worker.  Exits 0 when all hold, 1 otherwise; bounded (10 s).
Port: 3811 by default."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time


def rec(t, f, b):
    return struct.pack(">IBB", len(b) + 2, t, f) + b


def hello(pid):
    b = struct.pack(">HII", 1, 1, 1049088)
    b += struct.pack(">BH", 1, 3) + b"gw1"
    b += struct.pack(">BHIH", 3, 6, pid, 0)
    return rec(1, 0, b)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3811
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp()
    ctl = os.path.join(tmp, "control")
    os.mkfifo(ctl)
    be = subprocess.Popen([sys.executable,
                           os.path.join(here, "fanout_backend.py"),
                           "--listen", "127.0.0.1:%d" % port,
                           "--control", ctl, "--max-time", "10"],
                          stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in be.stdout.readline()
        socks = []
        for pid in (111, 111, 222):
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(hello(pid))
            socks.append(s)
        for s in socks:
            d = s.recv(4096)
            t, = struct.unpack_from(">B", d, 4)
            v, caps = struct.unpack_from(">HI", d, 6)
            assert t == 1 and v == 1 and caps & 1, "backend HELLO"
        socks[0].sendall(rec(2, 0, struct.pack(">Q", 7)))
        assert socks[0].recv(100) == rec(3, 0, struct.pack(">Q", 7)), "PONG"
        with open(ctl, "w") as f:
            f.write("publish 3\n")
        line = be.stdout.readline()
        assert line.startswith("published seq=3 "), line
        time.sleep(0.2)
        got = []
        for s in socks:
            s.settimeout(0.3)
            try:
                got.append(s.recv(4096))
            except socket.timeout:
                got.append(b"")
        assert [bool(g) for g in got] == [True, False, True], "one a worker"
        for g in got[0], got[2]:
            ln, t, f = struct.unpack_from(">IBB", g)
            k, = struct.unpack_from(">H", g, 6)
            pl = g[8 + k:4 + ln]
            assert t == 0x32 and f == 0 and g[8:8 + k] == b"bench", "PUBLISH"
            assert len(g) == 4 + ln and len(pl) == 64, "PUBLISH size"
            assert pl.startswith(b"fanout 3 "), pl
        print("fanout_backend_check: ok")
        return 0
    except (AssertionError, OSError) as e:
        print("fanout_backend_check: FAILED: %s" % e)
        return 1
    finally:
        be.kill()
        be.wait()


if __name__ == "__main__":
    sys.exit(main())
