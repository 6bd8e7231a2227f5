#!/usr/bin/env python3
"""Plays the gateway's side of the link protocol (docs/protocol.md)
against scripts/backend/echo.py and chat.py, run as subprocesses.

    python3 t/backend/test_gwlink.py      exit 0 when every check passed

The records are built and read here with struct, not with gwlink, so
that the library is checked against the page and not against itself.
Ports 3700-3719.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BACKEND = os.path.join(TOP, "scripts", "backend")
ECHO_PORT = 3700
CHAT_PORT = 3701
IO_TIMEOUT = 5.0

checks = 0
failures = []


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def h(s):
    """Bytes from the page's hex notation."""
    return bytes.fromhex(s.replace("\n", " "))


def rec(rtype, flags, body):
    return struct.pack(">IBB", len(body) + 2, rtype, flags) + body


def u64(v):
    return struct.pack(">Q", v)


def field(ftype, value):
    return struct.pack(">BH", ftype, len(value)) + value


def open_rec(sid, uri=b"/", remote=b"127.0.0.1:50000", params=(), flags=0):
    body = u64(sid) + field(0x10, remote) + field(0x11, uri)
    for name, value in params:
        body += field(0x13, bytes([len(name)]) + name + value)
    return rec(0x10, flags, body)


def msg_rec(sid, payload, binary=False):
    return rec(0x11, 1 if binary else 0, u64(sid) + payload)


def close_rec(sid, code=1000, by=0, reason=b""):
    return rec(0x12, 0, u64(sid) + struct.pack(">HB", code, by) + reason)


def send_rec(sid, payload, binary=False):
    return rec(0x20, 1 if binary else 0, u64(sid) + payload)


# the page's examples (section 9)
GW_HELLO = h("00 00 00 19 01 00 00 01 00 00 00 00 00 10 02 00"
             " 01 00 03 67 77 31 04 00 04 00 00 13 88")
PING7 = h("00 00 00 0a 02 00 00 00 00 00 00 00 00 07")
PONG7 = h("00 00 00 0a 03 00 00 00 00 00 00 00 00 07")
SID = 0x0000d2a5c3000001
OPEN_EX = h("""00 00 00 37 10 00 00 00 d2 a5 c3 00 00 01
10 00 0f 31 32 37 2e 30 2e 30 2e 31 3a 35 30 33 31 32
11 00 0c 2f 63 68 61 74 3f 72 6f 6f 6d 3d 31
13 00 09 03 73 75 62 61 6c 69 63 65""")
MSG_HI = h("00 00 00 0c 11 00 00 00 d2 a5 c3 00 00 01 68 69")
MSG_BIN = h("00 00 00 0c 11 01 00 00 d2 a5 c3 00 00 01 00 ff")
SEND_HI = h("00 00 00 0c 20 00 00 00 d2 a5 c3 00 00 01 68 69")
GONE_EX = h("00 00 00 0b 13 00 00 00 d2 a5 c3 00 00 01 20")
ACCEPT_EX = h("00 00 00 0a 22 00 00 00 d2 a5 c3 00 00 01")
ERROR_EX = h("00 00 00 07 04 00 00 01 62 61 64")


def backend_hello(name, caps=0):
    """What echo.py and chat.py answer: version 1, the capabilities they
    use (CHANNELS when offered), max_record 1 MiB + 512, NAME and
    SOFTWARE."""
    fields = field(0x01, name) + field(0x02, b"gwlink.py/1")
    return rec(0x01, 0, struct.pack(">HII", 1, caps, 1049088) + fields)


class Gateway:
    """One link, as the gateway side."""

    def __init__(self, port, hello=GW_HELLO):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.hello_reply = None
        if hello is not None:
            self.send(hello)
            self.hello_reply = self.raw_record()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def raw_record(self, timeout=IO_TIMEOUT):
        """The next whole record as bytes, or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if len(self.buf) >= 4:
                    n = struct.unpack_from(">I", self.buf)[0] + 4
                    if len(self.buf) >= n:
                        r = bytes(self.buf[:n])
                        del self.buf[:n]
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._fill(left)
        except (socket.timeout, EOFError, ConnectionError):
            return None

    def record(self, timeout=IO_TIMEOUT):
        """(type, flags, body) or None."""
        r = self.raw_record(timeout)
        if r is None:
            return None
        return r[4], r[5], r[6:]

    def quiet(self, timeout=0.2):
        """True if nothing arrives for `timeout`."""
        if self.buf:
            return False
        try:
            self._fill(timeout)
        except socket.timeout:
            return True
        except (EOFError, ConnectionError):
            return True
        return False

    def eof(self, timeout=IO_TIMEOUT):
        """True if the backend closes the connection (after what is
        buffered has been read)."""
        if self.buf:
            return False
        try:
            self._fill(timeout)
        except (EOFError, ConnectionError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        self.sock.close()


def start(script, port, logdir):
    err = open(os.path.join(logdir, script + ".log"), "w")
    p = subprocess.Popen([sys.executable, os.path.join(BACKEND, script),
                          "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         stderr=err, text=True)
    p.log = err.name
    line = p.stdout.readline()
    check(line == "gwlink: listening on 127.0.0.1:%d\n" % port,
          "%s prints the ready line (got %r)" % (script, line))
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait(5)


def expect_error(g, code, what):
    r = g.record()
    ok = check(r is not None and r[0] == 0x04 and r[1] == 0
               and len(r[2]) >= 2 and len(r[2]) - 2 <= 1024
               and struct.unpack_from(">H", r[2])[0] == code,
               "%s: ERROR %d (got %r)" % (what, code,
                                           r and (r[0], r[2][:40])))
    if ok:
        check(r[2][2:].decode("utf-8", "strict") is not None,
              "%s: ERROR text is UTF-8" % what)
    check(g.eof(), "%s: the backend closes the link after ERROR" % what)
    g.close()


# --- echo ------------------------------------------------------------

def test_hello(port):
    g = Gateway(port, hello=None)
    check(g.quiet(0.3), "backend sends nothing before the gateway's HELLO")
    # the gateway HELLO split in two writes
    g.send(GW_HELLO[:7])
    check(g.quiet(0.1), "backend waits for the whole HELLO")
    g.send(GW_HELLO[7:])
    check(g.raw_record() == backend_hello(b"echo"),
          "backend HELLO bytes: version 1, caps 0, max_record 1049088, "
          "NAME, SOFTWARE")
    g.close()

    # a higher version, capabilities the backend does not use, and a
    # field type nobody knows: version 1, caps 0
    hello = rec(0x01, 0, struct.pack(">HII", 7, 0x3, 1049088)
                + field(0x7e, b"whatever") + field(0x03, struct.pack(
                    ">IH", 1234, 1)) + field(0x05, struct.pack(">I", 1)))
    g = Gateway(port, hello=hello)
    check(g.hello_reply == backend_hello(b"echo", caps=1),
          "HELLO v7 with caps 3 and an unknown field: backend answers "
          "version 1, caps 1 (CHANNELS, not FLOW)")
    g.send(PING7)
    check(g.raw_record() == PONG7, "link works after that HELLO")
    g.close()


def test_echo(port):
    g = Gateway(port)
    g.send(PING7)
    check(g.raw_record() == PONG7, "PING 7 -> PONG 7 (page bytes)")
    g.send(rec(0x02, 0, h("de ad be ef 01 02 03 04")))
    check(g.raw_record() == rec(0x03, 0, h("de ad be ef 01 02 03 04")),
          "PONG carries the same 8 bytes")

    g.send(OPEN_EX + MSG_HI)
    check(g.raw_record() == SEND_HI, "MESSAGE text hi -> SEND hi (page)")
    g.send(MSG_BIN)
    check(g.raw_record() == send_rec(SID, b"\x00\xff", True),
          "MESSAGE binary 00 ff -> binary SEND 00 ff")
    text = "héllo wörld ✓ 🎉".encode("utf-8")
    g.send(msg_rec(SID, text))
    check(g.raw_record() == send_rec(SID, text), "UTF-8 text echoed")

    g.send(msg_rec(SID, b""))
    check(g.raw_record() == send_rec(SID, b""), "empty text message")
    g.send(msg_rec(SID, b"", True))
    check(g.raw_record() == send_rec(SID, b"", True),
          "empty binary message")

    big = os.urandom(1 << 20)
    t0 = time.monotonic()
    g.send(msg_rec(SID, big, True))
    check(g.raw_record() == send_rec(SID, big, True),
          "1 MiB binary message echoed")
    bigtext = ("é" * (1 << 19)).encode("utf-8")
    g.send(msg_rec(SID, bigtext))
    check(g.raw_record() == send_rec(SID, bigtext),
          "1 MiB text message echoed")
    check(time.monotonic() - t0 < 5, "1 MiB messages in under 5 s")

    # 200 records in one write: 190 MESSAGEs and 10 PINGs
    batch = []
    want = []
    for i in range(200):
        if i % 20 == 7:
            batch.append(rec(0x02, 0, u64(i)))
            want.append(rec(0x03, 0, u64(i)))
        else:
            p = b"m%d" % i
            batch.append(msg_rec(SID, p, i % 2 == 1))
            want.append(send_rec(SID, p, i % 2 == 1))
    g.send(b"".join(batch))
    got = [g.raw_record() for _ in range(200)]
    check(got == want, "200 records in one write: 200 answers, in order")

    # one record split at every byte boundary
    r = msg_rec(SID, b"split me")
    ok = True
    for i in range(1, len(r)):
        g.send(r[:i])
        time.sleep(0.003)
        g.send(r[i:])
        if g.raw_record() != send_rec(SID, b"split me"):
            ok = False
    check(ok, "a record split at each of its %d byte boundaries"
          % (len(r) - 1))
    # two records, one byte per write
    two = msg_rec(SID, b"a") + rec(0x02, 0, u64(99))
    for i in range(len(two)):
        g.send(two[i:i + 1])
        time.sleep(0.001)
    check(g.raw_record() == send_rec(SID, b"a")
          and g.raw_record() == rec(0x03, 0, u64(99)),
          "two records sent one byte per write")

    # GONE is ignored
    g.send(GONE_EX + PING7)
    check(g.raw_record() == PONG7, "GONE is ignored, the link lives on")

    # CLOSE forgets the session: a MESSAGE for it is then a bad record
    g.send(close_rec(SID, 1000, 0, b"bye") + PING7)
    check(g.raw_record() == PONG7, "CLOSE event taken")
    g.send(MSG_HI)
    expect_error(g, 1, "MESSAGE after the session's CLOSE")


def test_approve(port):
    g = Gateway(port)
    g.send(open_rec(SID, flags=0x02))
    check(g.raw_record() == ACCEPT_EX, "OPEN with APPROVE -> ACCEPT (page)")
    g.send(MSG_HI)
    check(g.raw_record() == SEND_HI, "accepted session echoes")
    g.send(close_rec(SID))
    check(g.quiet(0.1), "nothing answers a CLOSE event")
    g.close()


def test_links(port):
    """The same session id on two links: two sessions."""
    a = Gateway(port)
    b = Gateway(port)
    a.send(open_rec(SID))
    b.send(open_rec(SID))
    a.send(msg_rec(SID, b"on a"))
    check(a.raw_record() == send_rec(SID, b"on a"),
          "link a gets its own echo")
    check(b.quiet(0.2), "link b gets nothing of link a's session")
    b.send(msg_rec(SID, b"on b"))
    check(b.raw_record() == send_rec(SID, b"on b"),
          "link b gets its own echo")
    check(a.quiet(0.2), "link a gets nothing of link b's session")
    # a session opened on a is unknown on b
    a.send(open_rec(SID + 1))
    b.send(msg_rec(SID + 1, b"x"))
    expect_error(b, 1, "MESSAGE on b for a session of link a")
    a.send(msg_rec(SID + 1, b"still"))
    check(a.raw_record() == send_rec(SID + 1, b"still"),
          "link a not disturbed by link b's error")
    a.close()


def test_bad_records(port):
    def fresh():
        return Gateway(port)

    g = Gateway(port, hello=None)
    g.send(PING7)
    expect_error(g, 5, "PING before HELLO")

    g = Gateway(port, hello=rec(0x01, 0, struct.pack(">HII", 0, 0, 4096)))
    r = g.hello_reply
    check(r is not None and r[4] == 0x04
          and struct.unpack_from(">H", r, 6)[0] == 2,
          "HELLO version 0: ERROR 2 (got %r)" % (r,))
    check(g.eof(), "HELLO version 0: link closed")
    g.close()

    g = Gateway(port, hello=rec(0x01, 0, struct.pack(">HII", 1, 0, 4096)
                                + b"\x01\x00\x09ab"))
    r = g.hello_reply
    check(r is not None and r[4] == 0x04
          and struct.unpack_from(">H", r, 6)[0] == 1,
          "HELLO with a field past its end: ERROR 1 (got %r)" % (r,))
    g.close()

    cases = [
        (struct.pack(">IB", 1, 0x02), 1, "length 1"),
        (struct.pack(">I", 0), 1, "length 0"),
        (struct.pack(">I", 1049089), 3, "length above max_record"),
        (rec(0x7f, 0, b""), 4, "unknown type 0x7f"),
        (send_rec(SID, b"hi"), 4, "a SEND from the gateway"),
        (rec(0x22, 0, u64(SID)), 4, "an ACCEPT from the gateway"),
        (rec(0x41, 0, b""), 5, "a flow control record without FLOW"),
        (GW_HELLO, 5, "a second HELLO"),
        (rec(0x02, 0x01, u64(7)), 1, "PING with flag 1"),
        (rec(0x02, 0, b"\x00" * 7), 1, "PING of length 9"),
        (rec(0x03, 0, b"\x00" * 9), 1, "PONG of length 11"),
        (rec(0x13, 0, u64(SID) + b"\x20\x00"), 1, "GONE of length 12"),
        (rec(0x10, 0, b"\x00" * 7), 1, "OPEN shorter than a session id"),
        (rec(0x10, 0, u64(0)), 1, "OPEN of session 0"),
        (rec(0x10, 0x04, u64(SID)), 1, "OPEN with flag 4"),
        (rec(0x10, 0x01, u64(SID)), 5, "OPEN REANNOUNCE without CHANNELS"),
        (rec(0x10, 0, u64(SID) + b"\x11\x00\x05/"), 1,
         "OPEN field longer than the record"),
        (rec(0x10, 0, u64(SID) + field(0x13, b"\x05ab")), 1,
         "PARAM name longer than the field"),
        (open_rec(SID) + open_rec(SID), 1, "a second OPEN of one session"),
        (open_rec(SID) + msg_rec(SID, b"\xff\xfe"), 1,
         "text MESSAGE that is not UTF-8"),
        (open_rec(SID) + msg_rec(SID, b"\xe2\x82"), 1,
         "text MESSAGE with a cut UTF-8 sequence"),
        (open_rec(SID) + rec(0x11, 0x02, u64(SID) + b"x"), 1,
         "MESSAGE with flag 2"),
        (msg_rec(SID, b"hi"), 1, "MESSAGE for a session never opened"),
        (open_rec(SID) + close_rec(SID, 1000, 0, b"r" * 124), 1,
         "CLOSE event reason of 124 bytes"),
        (open_rec(SID) + close_rec(SID, 1000, 3), 1, "CLOSE event by 3"),
        (open_rec(SID) + close_rec(SID, 1000, 0, b"\xc3"), 1,
         "CLOSE event reason not UTF-8"),
        (open_rec(SID) + rec(0x12, 0, u64(SID) + b"\x03\xe8"), 1,
         "CLOSE event without its by"),
    ]
    for data, code, what in cases:
        g = fresh()
        g.send(data)
        # an accepted OPEN gets nothing back from echo: just the ERROR
        expect_error(g, code, what)

    # the right CLOSE event reason length (123) is fine
    g = fresh()
    g.send(open_rec(SID) + close_rec(SID, 1000, 0, b"r" * 123) + PING7)
    check(g.raw_record() == PONG7, "CLOSE event reason of 123 bytes is fine")
    g.close()

    # an ERROR from the gateway: the backend closes the link, silently
    g = fresh()
    g.send(ERROR_EX)
    check(g.eof(), "ERROR from the gateway: the backend closes the link")
    g.close()


def test_shutdown(p, port):
    g = Gateway(port)
    p.send_signal(signal.SIGTERM)
    r = g.record()
    check(r is not None and r[0] == 0x04
          and struct.unpack_from(">H", r[2])[0] == 6,
          "SIGTERM: ERROR 6 going away on the link (got %r)" % (r,))
    check(g.eof(), "SIGTERM: link closed")
    try:
        rc = p.wait(3)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, "SIGTERM: the backend exits 0 (got %r)" % rc)


# --- chat ------------------------------------------------------------

class Chatter:
    """A session of the chat, on a link."""

    def __init__(self, link, sid, room=None, user=None, approve=False):
        self.link = link
        self.sid = sid
        uri = b"/chat" + (b"?room=" + room.encode() if room else b"")
        params = [(b"user", user.encode())] if user is not None else []
        params.insert(0, (b"sub", b"ignored"))
        link.send(open_rec(sid, uri, params=params,
                           flags=0x02 if approve else 0))
        if approve:
            self.accept = link.raw_record()

    def say(self, text):
        self.link.send(msg_rec(self.sid, text.encode("utf-8")))

    def next(self):
        r = self.link.record()
        if r is None or r[0] != 0x20 or r[1] != 0:
            return ("not a text SEND", r and r[:2])
        sid = struct.unpack_from(">Q", r[2])[0]
        if sid != self.sid:
            return ("SEND to another session", hex(sid))
        try:
            return json.loads(r[2][8:].decode("utf-8"))
        except ValueError:
            return ("not JSON", r[2][8:60])


def test_chat(port):
    a = Gateway(port)
    b = Gateway(port)
    check(a.hello_reply == backend_hello(b"chat"), "chat HELLO bytes")

    # the same session id on both links, on purpose
    alice = Chatter(a, SID, "r1", "alice")
    got = alice.next()
    check(got == {"type": "welcome", "room": "r1", "user": "alice",
                  "members": ["alice"]}, "alice's welcome (got %r)" % (got,))
    bob = Chatter(b, SID, "r1", "bob")
    got = bob.next()
    check(got == {"type": "welcome", "room": "r1", "user": "bob",
                  "members": ["alice", "bob"]},
          "bob's welcome, on another link (got %r)" % (got,))
    got = alice.next()
    check(got == {"type": "join", "room": "r1", "user": "bob"},
          "alice sees bob join across links (got %r)" % (got,))

    alice.say('{"text": "hello bob"}')
    m = {"type": "message", "room": "r1", "from": "alice",
         "text": "hello bob"}
    got_a, got_b = alice.next(), bob.next()
    check(got_a == m, "alice gets her own message (got %r)" % got_a)
    check(got_b == m, "bob gets alice's message on link b (got %r)" % got_b)
    bob.say("plain ✓ text")
    m = {"type": "message", "room": "r1", "from": "bob",
         "text": "plain ✓ text"}
    got_a, got_b = alice.next(), bob.next()
    check(got_a == m and got_b == m,
          "plain text from bob reaches both (got %r %r)" % (got_a, got_b))

    # another room, an anonymous user, on link a: rooms are apart
    anon = Chatter(a, SID + 1)
    got = anon.next()
    check(isinstance(got, dict) and got.get("type") == "welcome"
          and got.get("room") == "lobby"
          and str(got.get("user")).startswith("anon-")
          and got.get("members") == [got.get("user")],
          "no room, no user: lobby and anon-N (got %r)" % (got,))
    anon.say("lobby only")
    got = anon.next()
    check(isinstance(got, dict) and got.get("text") == "lobby only",
          "lobby message (got %r)" % (got,))
    check(b.quiet(0.2), "r1 on link b hears nothing of the lobby")

    # approval: a good room is accepted, a bad one refused with 400
    carol = Chatter(b, SID + 2, "r1", "carol", approve=True)
    check(carol.accept == rec(0x22, 0, u64(SID + 2)), "chat ACCEPTs carol")
    got = carol.next()
    check(isinstance(got, dict) and got.get("members")
          == ["alice", "bob", "carol"], "carol's welcome (got %r)" % (got,))
    check(alice.next() == {"type": "join", "room": "r1", "user": "carol"}
          and bob.next() == {"type": "join", "room": "r1", "user": "carol"},
          "alice and bob see carol join")
    bad = Chatter(b, SID + 3, "no/good", "eve", approve=True)
    check(bad.accept is not None and bad.accept[4] == 0x23
          and bad.accept[6:16] == u64(SID + 3) + struct.pack(">H", 400),
          "bad room with approval: REJECT 400 (got %r)" % bad.accept)
    Chatter(b, SID + 4, "no/good", "eve")
    check(b.raw_record() == rec(0x21, 0, u64(SID + 4) + struct.pack(
        ">H", 1008) + b"bad room name"),
        "bad room without approval: CLOSE 1008")
    b.send(close_rec(SID + 4, 1008, 2, b"bad room name"))

    # over 64 KiB: the backend closes that session with 1009
    bob.link.send(msg_rec(SID, b"x" * (64 * 1024 + 1)))
    r = b.raw_record()
    check(r == rec(0x21, 0, u64(SID) + struct.pack(">H", 1009)
                   + b"message too big"),
          "64 KiB + 1 text: CLOSE 1009 (got %r)" % (r and r[:24]))
    alice.say("still here")
    got = bob.link.record()
    check(got is not None and struct.unpack_from(">Q", got[2])[0]
          == SID + 2, "no more SENDs to the closing bob, carol gets it")
    alice.next()
    b.send(close_rec(SID, 1009, 2, b"message too big"))
    check(alice.next() == {"type": "leave", "room": "r1", "user": "bob"}
          and carol.next() == {"type": "leave", "room": "r1",
                               "user": "bob"},
          "bob's CLOSE event: alice and carol see him leave")
    # exactly 64 KiB is relayed
    alice.say("y" * (64 * 1024))
    got = carol.next()
    check(isinstance(got, dict) and got.get("text") == "y" * (64 * 1024),
          "a 64 KiB text is relayed")
    alice.next()

    # a binary message: 1003
    a.send(msg_rec(SID + 1, b"\x00", True))
    check(a.raw_record() == rec(0x21, 0, u64(SID + 1) + struct.pack(
        ">H", 1003) + b"text only"), "binary message: CLOSE 1003")
    a.send(close_rec(SID + 1, 1003, 2, b"text only"))

    # link b is lost: carol is gone for alice
    b.close()
    got = alice.next()
    check(got == {"type": "leave", "room": "r1", "user": "carol"},
          "link b lost: alice sees carol leave (got %r)" % (got,))

    # a client's own close: by 0
    c = Gateway(port)
    dave = Chatter(c, SID, "r1", "dave")
    check(dave.next().get("members") == ["alice", "dave"],
          "dave joins on a third link, same id as alice's")
    check(alice.next().get("user") == "dave", "alice sees dave join")
    a.send(close_rec(SID, 1001, 0))
    check(dave.next() == {"type": "leave", "room": "r1", "user": "alice"},
          "alice's tab closed: dave sees her leave")
    dave.say("alone")
    check(dave.next().get("text") == "alone", "dave alone in r1")
    check(a.quiet(0.2), "nothing more for link a")
    a.close()
    c.close()

# --- the library in process: codec and command checks ----------------

def test_library():
    sys.path.insert(0, BACKEND)
    import random
    import gwlink

    # the page's command examples, from the library's encoder
    sid = u64(SID)
    check(gwlink.encode(gwlink.CLOSE, 0, sid + struct.pack(">H", 4000)
                        + b"kicked") == h(
        "00 00 00 12 21 00 00 00 d2 a5 c3 00 00 01 0f a0"
        " 6b 69 63 6b 65 64"), "encode: CLOSE command 4000 kicked (page)")
    check(gwlink.encode(gwlink.REJECT, 0, sid + struct.pack(">H", 403)
                        + b"banned") == h(
        "00 00 00 12 23 00 00 00 d2 a5 c3 00 00 01 01 93"
        " 62 61 6e 6e 65 64"), "encode: REJECT 403 banned (page)")
    check(gwlink.encode(gwlink.ERROR, 0, struct.pack(">H", 1) + b"bad")
          == ERROR_EX, "encode: ERROR 1 bad (page)")

    # the decoder: many records cut into random pieces
    rng = random.Random(7)
    recs = [rec(rng.choice([0x02, 0x11, 0x12]), 0,
                os.urandom(rng.randrange(8, 300))) for _ in range(500)]
    stream = b"".join(recs)
    d = gwlink.Decoder(4096)
    out = []
    pos = 0
    while pos < len(stream):
        n = rng.choice([1, 2, 3, 5, 7, 64, 1000, 5000])
        out += d.feed(stream[pos:pos + n])
        pos += n
    check([rec(t, f, b) for t, f, b in out] == recs and not d.buf,
          "decoder: 500 records cut at random, all back, in order")
    for data, code in ((b"\x00\x00\x00\x01", 1),
                       (struct.pack(">I", 4097), 3)):
        try:
            gwlink.Decoder(4096).feed(data)
            got = None
        except gwlink.ProtocolError as e:
            got = e.code
        check(got == code, "decoder: header %s -> %r (got %r)"
              % (data.hex(), code, got))
    try:
        gwlink.decode_fields(b"\x01\x00\x02a", 0)
        got = None
    except gwlink.ProtocolError as e:
        got = e.code
    check(got == 1, "decode_fields: a value past the end is malformed")
    check(gwlink.decode_fields(field(1, b"gw1") + field(0x99, b""), 0)
          == [(1, b"gw1"), (0x99, b"")], "decode_fields")

    # close codes of section 6.2
    ok = [c for c in range(0, 6000) if gwlink.valid_close_code(c)]
    want = ([1000, 1001, 1003] + list(range(1007, 1015))
            + list(range(3000, 5000)))
    check(ok == want, "close codes: 1000 1001 1003 1007-1014 3000-4999")

    # commands refuse what the page forbids, before anything is written
    class FakeServer:
        service = object()
        max_record = 1 << 16
        dirty = set()

    class FakeWriter:
        def get_extra_info(self, name):
            return None

    link = gwlink.Link(FakeServer(), None, FakeWriter())
    link.max_record = 1024
    s = gwlink.Session(link, SID)
    link.sessions[SID] = s
    link._write = lambda r: link._out.append(r) or True

    def raises(fn, what):
        try:
            fn()
        except (ValueError, RuntimeError):
            check(True, what)
            return
        check(False, what)

    raises(lambda: s.send(b"\xff"), "send: text bytes not UTF-8 refused")
    raises(lambda: s.send(b"x" * 1015, True),
           "send: a record above the gateway's max_record refused")
    check(s.send(b"x" * 1014, True), "send: exactly the gateway's max_record")
    raises(lambda: s.close(1005), "close: 1005 refused")
    raises(lambda: s.close(1000, "r" * 124), "close: reason of 124 refused")
    raises(lambda: s.accept(), "accept: not waiting for a verdict")
    check(s.close(4000, "kicked") and link._out[-1] == h(
        "00 00 00 12 21 00 00 00 d2 a5 c3 00 00 01 0f a0"
        " 6b 69 63 6b 65 64"), "close: CLOSE command bytes")
    n = len(link._out)
    check(s.send("late") is False and len(link._out) == n,
          "send after close(): dropped, nothing written")
    a = gwlink.Session(link, SID + 1)
    a.state = "approving"
    raises(lambda: a.send("early"), "send before ACCEPT refused")
    raises(lambda: a.reject(399), "reject: status 399 refused")
    raises(lambda: a.reject(403, "t" * 1025), "reject: text over 1024")


def main():
    signal.alarm(60)        # the whole run is bounded
    t0 = time.monotonic()
    procs = []
    with tempfile.TemporaryDirectory() as logdir:
        try:
            echo = start("echo.py", ECHO_PORT, logdir)
            procs.append(echo)
            chat = start("chat.py", CHAT_PORT, logdir)
            procs.append(chat)
            test_hello(ECHO_PORT)
            test_echo(ECHO_PORT)
            test_approve(ECHO_PORT)
            test_links(ECHO_PORT)
            test_bad_records(ECHO_PORT)
            check(echo.poll() is None, "echo.py survived every bad link")
            test_chat(CHAT_PORT)
            check(chat.poll() is None, "chat.py is still running")
            test_shutdown(echo, ECHO_PORT)
            test_library()
        except Exception as e:
            import traceback
            traceback.print_exc()
            check(False, "the run raised %r" % e)
        finally:
            for p in procs:
                stop(p)
            if failures:
                for p in procs:
                    print("--- %s" % p.log)
                    with open(p.log) as f:
                        sys.stdout.write(f.read()[-4000:])
    print("%d checks, %d failed, %.1f s" % (checks, len(failures),
                                          time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
