#!/usr/bin/env python3
"""Channels (SUBSCRIBE, UNSUBSCRIBE, PUBLISH, BROADCAST, REFUSED,
DROPPED, re-announce) of scripts/backend/gwlink.py, chat.py and echo.py
against gateways played by the test (docs/protocol.md; the issue 11
spec).  Records are built and read with struct, as in test_gwlink.py.

    python3 t/backend/test_channels.py      exit 0 when every check passed

Ports 3702-3704.
"""

import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_gwlink as T  # noqa: E402
from test_gwlink import check, rec, u64, field, msg_rec, close_rec  # noqa

SVC_PORT = 3702
CHAT_PORT = 3703
ECHO_PORT = 3704
HERE = os.path.dirname(os.path.abspath(__file__))


def gw_hello(name=b"gw1", pid=100, slot=0, index=0, caps=1):
    return rec(0x01, 0, struct.pack(">HII", 1, caps, 1049088)
               + field(0x01, name)
               + field(0x03, struct.pack(">IH", pid, slot))
               + field(0x04, struct.pack(">I", 5000))
               + field(0x05, struct.pack(">I", index)))


def link(port, **kw):
    return T.Gateway(port, hello=gw_hello(**kw))


def reopen(sid, channels=(), dropped=None, unsent=None, unconfirmed=None,
           uri=b"/ch", params=(), flags=0x01):
    body = u64(sid) + field(0x10, b"127.0.0.1:50001") + field(0x11, uri)
    for name, value in params:
        body += field(0x13, bytes([len(name)]) + name + value)
    for c in channels:
        body += field(0x14, c)
    for ftype, v in ((0x15, dropped), (0x16, unsent), (0x17, unconfirmed)):
        if v is not None:
            body += field(ftype, struct.pack(">I", v))
    return rec(0x10, flags, body)


def sub_rec(sid, c):
    return rec(0x30, 0, u64(sid) + c)


def unsub_rec(sid, c):
    return rec(0x31, 0, u64(sid) + c)


def pub_rec(c, payload, binary=False):
    return rec(0x32, 1 if binary else 0,
               struct.pack(">H", len(c)) + c + payload)


def bcast_rec(payload, binary=False):
    return rec(0x33, 1 if binary else 0, payload)


def refused_rec(sid, command, code):
    return rec(0x14, 0, u64(sid) + bytes([command, code]))


def dropped_rec(sid, count):
    return rec(0x15, 0, u64(sid) + struct.pack(">I", count))


class Events:
    """The JSON lines chan_service.py prints."""

    def __init__(self, p):
        self.p = p
        self.buf = b""

    def next(self, timeout=T.IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            data = os.read(fd, 65536)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def until(self, ev, timeout=T.IO_TIMEOUT):
        """The next event of kind `ev`, and the ones skipped."""
        skipped = []
        while True:
            e = self.next(timeout)
            if e is None or e["ev"] == ev:
                return e, skipped
            skipped.append(e)


def start(cmd, port, logdir, name):
    err = open(os.path.join(logdir, name + ".log"), "w")
    p = subprocess.Popen([sys.executable] + cmd, stdout=subprocess.PIPE,
                         stderr=err)
    p.log = err.name
    line = p.stdout.readline()
    check(line == b"gwlink: listening on 127.0.0.1:%d\n" % port,
          "%s prints the ready line (got %r)" % (name, line))
    return p


def say(g, sid, text):
    g.send(msg_rec(sid, text.encode("utf-8")))


def quiet_all(links, timeout=0.2):
    return all(g.quiet(timeout) for g in links)


def test_service(port, ev):
    a1 = link(port, pid=100, index=0)
    check(a1.hello_reply is not None and a1.hello_reply[4] == 0x01
          and struct.unpack_from(">I", a1.hello_reply, 8)[0] == 1,
          "gateway with CHANNELS: the backend's HELLO has capability 1 "
          "(got %r)" % (a1.hello_reply and a1.hello_reply[:16]))
    a2 = link(port, pid=100, index=1)
    b1 = link(port, pid=200, slot=1, index=0)
    c1 = link(port, name=b"gw2", pid=100, index=0)
    links = [a1, a2, b1, c1]

    S1 = 0x0000d2a5c3000101
    a2.send(T.open_rec(S1, b"/ch?x=1"))
    e, _ = ev.until("open")
    check(e and e["sid"] == S1, "OPEN -> on_open (got %r)" % e)

    say(a2, S1, "sub room:1")
    check(a2.raw_record() == sub_rec(S1, b"room:1"),
          "subscribe(): SUBSCRIBE bytes on the session's link")
    e, _ = ev.until("did")
    check(e and e["result"] is True and e["channels"] == ["room:1"],
          "subscribe() True, session.channels has it (got %r)" % e)

    # PUBLISH: one link per gateway worker, the same one every time
    got = {}
    for i in range(5):
        say(a2, S1, "pub room:1 m%d" % i)
        ev.until("did")
    time.sleep(0.2)
    for name, g in (("a1", a1), ("a2", a2), ("b1", b1), ("c1", c1)):
        rs = []
        while True:
            r = g.raw_record(0.2)
            if r is None:
                break
            rs.append(r)
        got[name] = rs
    want = [pub_rec(b"room:1", b"m%d" % i) for i in range(5)]
    group_a = got["a1"] + got["a2"]
    check(group_a == want and (not got["a1"] or not got["a2"]),
          "worker (gw1, 100): 5 PUBLISHes on one of its two links, in "
          "order (a1 %d, a2 %d)" % (len(got["a1"]), len(got["a2"])))
    check(got["b1"] == want, "worker (gw1, 200): the 5 PUBLISHes")
    check(got["c1"] == want, "gateway gw2 worker 100: the 5 PUBLISHes")
    sticky = a1 if got["a1"] else a2
    other = a2 if sticky is a1 else a1

    # via: the session's own link for its worker
    say(a2, S1, "pubvia room:1 v")
    ev.until("did")
    check(a2.raw_record() == pub_rec(b"room:1", b"v")
          and b1.raw_record() == pub_rec(b"room:1", b"v")
          and c1.raw_record() == pub_rec(b"room:1", b"v")
          and a1.quiet(0.2),
          "publish(via=session): that link for its worker, one for each "
          "other")

    # binary PUBLISH, BROADCAST text and binary
    say(a2, S1, "pubbin room:1 00ff")
    say(a2, S1, "bcast all of you")
    say(a2, S1, "bcastbin 0001")
    want = [pub_rec(b"room:1", b"\x00\xff", True),
            bcast_rec(b"all of you"), bcast_rec(b"\x00\x01", True)]
    for g, what in ((sticky, "worker 100"), (b1, "worker 200"),
                    (c1, "gw2")):
        check([g.raw_record() for _ in range(3)] == want,
              "%s: binary PUBLISH (flag 1), BROADCAST text, BROADCAST "
              "binary" % what)
    check(other.quiet(0.2), "nothing on the other link of worker 100")
    for _ in range(3):
        e, _ = ev.until("did")
    check(e and e["result"] == 3, "broadcast() returns 3 links (got %r)" % e)

    # unsubscribe, REFUSED, DROPPED
    say(a2, S1, "sub room:2")
    say(a2, S1, "unsub room:1")
    check(a2.raw_record() == sub_rec(S1, b"room:2")
          and a2.raw_record() == unsub_rec(S1, b"room:1"),
          "SUBSCRIBE room:2, UNSUBSCRIBE room:1 bytes")
    ev.until("did")
    e, _ = ev.until("did")
    check(e and e["channels"] == ["room:2"], "channels after unsubscribe "
          "(got %r)" % e)
    a2.send(refused_rec(S1, 0x30, 2))
    e, _ = ev.until("refused")
    check(e == {"ev": "refused", "sid": S1, "command": 0x30, "code": 2,
                "channels": ["room:2"]},
          "REFUSED code 2 -> on_refused(session, 0x30, 2) (got %r)" % e)
    a2.send(refused_rec(S1, 0x30, 3))
    e, _ = ev.until("refused")
    check(e and e["code"] == 3 and e["channels"] == [],
          "REFUSED code 3 (channels off): session.channels cleared "
          "(got %r)" % e)
    say(a2, S1, "sub room:2")
    a2.raw_record()
    ev.until("did")
    a2.send(dropped_rec(S1, 7) + dropped_rec(S1, 2))
    e1, _ = ev.until("dropped")
    e2, _ = ev.until("dropped")
    check(e1 and e2 and (e1["count"], e1["total"], e2["count"],
                         e2["total"]) == (7, 7, 2, 9),
          "DROPPED 7, DROPPED 2 -> on_dropped, session.dropped 9 "
          "(got %r %r)" % (e1, e2))

    # link a2 lost: S1 detached, then re-announced on a1: the same
    # session, updated, no second on_open
    a2.close()
    e, _ = ev.until("detach")
    check(e and e["sid"] == S1 and e["state"] == "detached",
          "link lost: on_detach, state detached (got %r)" % e)
    a1.send(reopen(S1, [b"room:2", b"room:9"], dropped=3, unsent=1,
                   unconfirmed=4, uri=b"/ch?x=1",
                   params=[(b"user", b"al")]))
    e, skipped = ev.until("reannounce")
    check(e == {"ev": "reannounce", "sid": S1, "known": True,
                "channels": ["room:2", "room:9"], "dropped": 3, "unsent": 1,
                "unconfirmed": 4, "total_dropped": 12, "times": 1,
                "uri": "/ch?x=1", "params": {"user": "al"}, "link": 0,
                "session_channels": ["room:2", "room:9"]},
          "REANNOUNCE of a known session: on_reannounce known, its "
          "CHANNEL, DROPPED, UNSENT, UNCONFIRMED fields (got %r)" % e)
    check(not any(x["ev"] == "open" for x in skipped),
          "no second on_open (%r)" % skipped)
    say(a1, S1, "echo back")
    check(a1.raw_record() == T.send_rec(S1, b"back"),
          "the re-announced session SENDs on its new link")
    ev.until("did")

    # re-announced while its old link is still open (the gateway reset
    # it; the backend has not read the end yet): moved, and what was on
    # its way on the old link is dropped quietly
    S2 = S1 + 1
    a1.send(T.open_rec(S2))
    ev.until("open")
    a3 = link(port, pid=100, index=2)
    a3.send(reopen(S2, [b"room:3"]))
    e, _ = ev.until("reannounce")
    check(e and e["sid"] == S2 and e["known"] and e["link"] == 2,
          "REANNOUNCE on a3 of a session still on a1: known, moved (got "
          "%r)" % e)
    a1.send(msg_rec(S2, b"echo late") + T.PING7)
    check(a1.raw_record() == T.PONG7,
          "a MESSAGE on the old link for the moved session: ignored, the "
          "link lives (no ERROR)")
    say(a3, S2, "echo here")
    check(a3.raw_record() == T.send_rec(S2, b"here"),
          "the moved session answers on a3")
    ev.until("did")
    a3.send(close_rec(S2, 1000, 0))
    e, _ = ev.until("close")
    check(e and e["sid"] == S2 and e["code"] == 1000 and not e["lost"],
          "its CLOSE event on a3: on_close (got %r)" % e)

    # a re-announce of a session this process never saw
    S3 = S1 + 2
    b1.send(reopen(S3, [b"room:1"], dropped=0, unsent=0, unconfirmed=2))
    e, _ = ev.until("reannounce")
    check(e and e["sid"] == S3 and e["known"] is False
          and e["channels"] == ["room:1"] and e["unconfirmed"] == 2,
          "REANNOUNCE of an unknown session: known False (got %r)" % e)

    # a detached session not re-announced in time (1 s here)
    S4 = S1 + 3
    c1.send(T.open_rec(S4))
    ev.until("open")
    c1.close()
    ev.until("detach")
    t0 = time.monotonic()
    e, _ = ev.until("close", 5)
    check(e and e["sid"] == S4 and e["code"] == 1006 and e["lost"]
          and time.monotonic() - t0 > 0.7,
          "detached, not re-announced within detach_timeout: on_close "
          "1006, lost (got %r)" % e)

    # the gateway's worker 100 now has a1 and a3: publishes still go on
    # one of them
    say(b1, S3, "pub room:1 after")
    ev.until("did")
    ra, rc = a1.raw_record(0.5), a3.raw_record(0.5)
    check([r for r in (ra, rc) if r] == [pub_rec(b"room:1", b"after")],
          "after the loss of a2: one PUBLISH for worker 100 (a1 %r a3 %r)"
          % (ra, rc))
    check(b1.raw_record() == pub_rec(b"room:1", b"after"),
          "and one for worker 200")

    # bad records about channels
    for data, code, what in (
            (reopen(S1 + 9, flags=0x03), 1, "OPEN with REANNOUNCE and "
             "APPROVE"),
            (reopen(S1 + 9, [b""]), 1, "REANNOUNCE with an empty CHANNEL"),
            (reopen(S1 + 9, dropped=None) + rec(0x15, 0, u64(S1 + 9)
                                                + b"\x00"), 1,
             "DROPPED of length 11"),
            (rec(0x14, 0, u64(S1 + 9) + b"\x30"), 1, "REFUSED of length 11"),
            (refused_rec(S1 + 77, 0x30, 1), 1,
             "REFUSED for a session never opened"),
            (rec(0x10, 0x01, u64(S1 + 9) + field(0x16, b"\x00")), 1,
             "UNSENT field of 1 byte")):
        g = link(port, pid=300)
        g.send(data)
        T.expect_error(g, code, what)

    for g in (a1, b1, a3):
        g.close()


def test_echo_reannounce(port):
    """echo.py has no on_reannounce: an unknown re-announced session is
    opened (on_open) and echoes; no CHANNELS: REANNOUNCE is ERROR 5."""
    g = link(port)
    g.send(reopen(0x77, [b"room:1"], dropped=1))
    g.send(msg_rec(0x77, b"again"))
    check(g.raw_record() == T.send_rec(0x77, b"again"),
          "echo.py: a re-announced session echoes")
    g.close()
    g = link(port, caps=0)
    g.send(reopen(0x77))
    T.expect_error(g, 5, "REANNOUNCE from a gateway without CHANNELS")


def chat_next(g):
    r = g.record()
    if r is None:
        return None
    t, f, b = r
    if t == 0x20:
        return ("SEND", struct.unpack_from(">Q", b)[0],
                json.loads(b[8:].decode()))
    if t == 0x32:
        (k,) = struct.unpack_from(">H", b)
        return ("PUBLISH", b[2:2 + k].decode(), json.loads(b[2 + k:]))
    if t in (0x30, 0x31):
        return ({0x30: "SUBSCRIBE", 0x31: "UNSUBSCRIBE"}[t],
                struct.unpack_from(">Q", b)[0], b[8:].decode())
    return ("?", t, b[:40])


def test_chat(port):
    l1 = link(port, pid=100, index=0)
    l2 = link(port, pid=100, index=1)
    w2 = link(port, pid=200, index=0)
    A, B = 0xa1, 0xb1
    l1.send(T.open_rec(A, b"/chat?room=r1", params=[(b"user", b"alice")]))
    got = [chat_next(l1) for _ in range(3)]
    check(got == [
        ("SEND", A, {"type": "welcome", "room": "r1", "user": "alice",
                     "members": ["alice"]}),
        ("PUBLISH", "room:r1", {"type": "join", "room": "r1",
                                "user": "alice"}),
        ("SUBSCRIBE", A, "room:r1")],
        "chat with CHANNELS: welcome, PUBLISH join (before), SUBSCRIBE "
        "room:r1, on alice's link (got %r)" % got)
    check(w2.record() is not None, "the join is published to worker 200 "
          "too")
    l2.send(T.open_rec(B, b"/chat?room=r1", params=[(b"user", b"bob")]))
    got = [chat_next(l2) for _ in range(3)]
    check(got[0] == ("SEND", B, {"type": "welcome", "room": "r1",
                                 "user": "bob",
                                 "members": ["alice", "bob"]})
          and got[1][:2] == ("PUBLISH", "room:r1")
          and got[2] == ("SUBSCRIBE", B, "room:r1"),
          "bob on the other link of the worker: his join on his own link "
          "(got %r)" % got)
    check(l1.quiet(0.2), "nothing on alice's link (one PUBLISH per worker)")
    w2.record()

    say(l1, A, '{"text": "hi bob"}')
    m = {"type": "message", "room": "r1", "from": "alice", "text": "hi bob"}
    check(chat_next(l1) == ("PUBLISH", "room:r1", m) and l2.quiet(0.2),
          "alice's message: one PUBLISH on her link for worker 100")
    check(chat_next(w2) == ("PUBLISH", "room:r1", m),
          "and one for worker 200")

    say(l1, A, "/join r2")
    got = [chat_next(l1) for _ in range(5)]
    check(got == [
        ("UNSUBSCRIBE", A, "room:r1"),
        ("PUBLISH", "room:r1", {"type": "leave", "room": "r1",
                                "user": "alice"}),
        ("SEND", A, {"type": "welcome", "room": "r2", "user": "alice",
                     "members": ["alice"]}),
        ("PUBLISH", "room:r2", {"type": "join", "room": "r2",
                                "user": "alice"}),
        ("SUBSCRIBE", A, "room:r2")],
        "/join r2: UNSUBSCRIBE, leave, welcome, join, SUBSCRIBE, in that "
        "order (got %r)" % got)
    w2.record()
    w2.record()
    say(l1, A, "/join bad/room")
    check(chat_next(l1) == ("SEND", A, {"type": "error",
                                        "text": "bad room name"}),
          "/join with a bad name: an error to the sender")

    # alice's link lost, she is re-announced on l2: no second welcome
    l1.close()
    time.sleep(0.2)
    l2.send(reopen(A, [b"room:r2"], uri=b"/chat?room=r1",
                   params=[(b"user", b"alice")]))
    check(l2.quiet(0.3), "re-announced alice: nothing sent (no welcome, "
          "no join)")
    say(l2, A, "back")
    check(chat_next(l2) == ("PUBLISH", "room:r2", {
        "type": "message", "room": "r2", "from": "alice", "text": "back"}),
        "alice, re-announced on l2, still in r2")
    w2.record()
    l2.send(close_rec(A, 1000, 0))
    check(l2.quiet(0.3), "alice, alone in r2, closes: no leave published")
    l2.close()
    w2.close()


def test_library():
    sys.path.insert(0, os.path.join(T.TOP, "scripts", "backend"))
    import gwlink

    class FakeServer:
        service = object()
        max_record = 1 << 16
        dirty = set()

    class FakeWriter:
        def get_extra_info(self, name):
            return None

    lk = gwlink.Link(FakeServer(), None, FakeWriter())
    lk.max_record = 1024
    lk._write = lambda r: lk._out.append(r) or True
    s = gwlink.Session(lk, 5)
    lk.sessions[5] = s

    def raises(fn, what):
        try:
            fn()
        except (ValueError, RuntimeError):
            check(True, what)
            return
        check(False, what)

    raises(lambda: s.subscribe("a"), "subscribe without CHANNELS refused")
    lk.capabilities = 1
    raises(lambda: s.subscribe(""), "subscribe: empty channel refused")
    raises(lambda: s.subscribe("c" * 256), "subscribe: 256 bytes refused")
    check(s.subscribe("c" * 255) and lk._out[-1] == rec(
        0x30, 0, u64(5) + b"c" * 255), "subscribe: 255 bytes")
    raises(lambda: lk.publish_record("c", b"\xff"),
           "publish: text not UTF-8 refused")
    raises(lambda: lk.publish_record("c", b"x" * 1020, True),
           "publish: above the gateway's max_record refused")
    check(lk.publish_record("c", b"x" * 1019, True)
          and len(lk._out[-1]) == 1028, "publish: exactly max_record")
    check(gwlink.encode(gwlink.PUBLISH, 0, b"\x00\x06room:1hi")
          == T.h("00 00 00 0c 32 00 00 06 72 6f 6f 6d 3a 31 68 69"),
          "PUBLISH bytes of the page's example")
    s.state = "detached"
    s.link = None
    check(s.send("x") is False and s.subscribe("c") is False,
          "a detached session: send and subscribe return False")


def main():
    signal.alarm(60)
    t0 = time.monotonic()
    procs = []
    with tempfile.TemporaryDirectory() as logdir:
        try:
            svc = start([os.path.join(HERE, "chan_service.py"),
                         "127.0.0.1:%d" % SVC_PORT, "1"], SVC_PORT, logdir,
                        "chan_service")
            procs.append(svc)
            chat = start([os.path.join(T.BACKEND, "chat.py"),
                          "127.0.0.1:%d" % CHAT_PORT], CHAT_PORT, logdir,
                         "chat")
            procs.append(chat)
            echo = start([os.path.join(T.BACKEND, "echo.py"),
                          "127.0.0.1:%d" % ECHO_PORT], ECHO_PORT, logdir,
                         "echo")
            procs.append(echo)
            test_service(SVC_PORT, Events(svc))
            test_echo_reannounce(ECHO_PORT)
            test_chat(CHAT_PORT)
            test_library()
            for p in procs:
                check(p.poll() is None, "%s still running" % p.args[1])
        except Exception as e:
            import traceback
            traceback.print_exc()
            check(False, "the run raised %r" % e)
        finally:
            for p in procs:
                T.stop(p)
            logs = ""
            for p in procs:
                with open(p.log) as f:
                    logs += f.read()
            check("Traceback" not in logs and "raised" not in logs,
                  "no traceback in the backends' logs")
            if T.failures:
                for p in procs:
                    print("--- %s" % p.log)
                    with open(p.log) as f:
                        sys.stdout.write(f.read()[-4000:])
    print("%d checks, %d failed, %.1f s" % (T.checks, len(T.failures),
                                          time.monotonic() - t0))
    return 1 if T.failures else 0


if __name__ == "__main__":
    sys.exit(main())
