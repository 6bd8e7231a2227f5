#!/usr/bin/env python3
#
# Plays the gateway against build/backend/echo-backend (the C echo backend,
# scripts/backend/echo_backend.c) over the link protocol of
# docs/protocol.md.  Python stdlib only; ports 3720-3739.
#
#   t/backend/test_echo_backend.py [PATH-TO-echo-backend]
#
# Exits 0 when every check passed and prints how many there were.

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = (sys.argv[1] if len(sys.argv) > 1
       else os.environ.get('ECHO_BACKEND',
                           os.path.join(TOP, 'build', 'backend',
                                        'echo-backend')))
HOST = '127.0.0.1'
PORT = 3720
MAX_RECORD = 1024 * 1024 + 512          # what the backend announces

HELLO, PING, PONG, ERROR = 0x01, 0x02, 0x03, 0x04
OPEN, MESSAGE, CLOSE_EV, GONE = 0x10, 0x11, 0x12, 0x13
SEND, CLOSE, ACCEPT = 0x20, 0x21, 0x22

SID = 0x0000d2a5c3000001
DEADLINE = time.monotonic() + 28         # the whole run

checks = 0
failures = []


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print('FAIL: ' + what, file=sys.stderr)


def rec(rtype, body=b'', flags=0):
    return struct.pack('>IBB', len(body) + 2, rtype, flags) + body


def gw_hello(version=1, max_record=1049088, fields=None):
    if fields is None:
        # the worked example of docs/protocol.md: NAME gw1, HEARTBEAT 5000
        fields = (b'\x01\x00\x03gw1' + b'\x04\x00\x04' +
                  struct.pack('>I', 5000))
    return rec(HELLO, struct.pack('>HII', version, 0, max_record) + fields)


def message(sid, payload, binary=False):
    return rec(MESSAGE, struct.pack('>Q', sid) + payload, 1 if binary else 0)


def open_ev(sid, flags=0, fields=b''):
    return rec(OPEN, struct.pack('>Q', sid) + fields, flags)


class Link:
    def __init__(self, hello=True):
        self.s = socket.create_connection((HOST, PORT), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        if hello:
            self.s.sendall(gw_hello())
            self.hello = self.record()

    def send(self, data):
        self.s.sendall(data)

    def fill(self, n, timeout):
        self.s.settimeout(timeout)
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                return False
            self.buf += d
        return True

    def record(self, timeout=5):
        """(type, flags, body), or None at EOF"""
        if not self.fill(4, timeout):
            return None
        n = struct.unpack('>I', self.buf[:4])[0]
        if not self.fill(4 + n, timeout):
            return None
        r = self.buf[:4 + n]
        self.buf = self.buf[4 + n:]
        return (r[4], r[5], r[6:])

    def raw(self, n, timeout=5):
        if not self.fill(n, timeout):
            return None
        r = self.buf[:n]
        self.buf = self.buf[n:]
        return r

    def eof(self, timeout=5):
        """True when the backend closes the link with nothing more"""
        try:
            return not self.fill(len(self.buf) + 1, timeout)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def quiet(self, timeout=0.2):
        """True when nothing arrives for timeout seconds"""
        if self.buf:
            return False
        try:
            self.fill(1, timeout)
        except socket.timeout:
            return True
        return False

    def close(self):
        self.s.close()


def expect_error(l, code, what):
    r = l.record()
    ok = (r is not None and r[0] == ERROR and r[1] == 0 and len(r[2]) >= 2
          and struct.unpack('>H', r[2][:2])[0] == code)
    check(ok, '%s: ERROR %d (got %r)' % (what, code,
                                         r if r is None else r[:2] +
                                         (r[2][:40],)))
    check(l.eof(), what + ': the link is closed after the ERROR')
    l.close()


def test_hello():
    l = Link(hello=False)
    check(l.quiet(0.3), 'nothing is sent before the gateway HELLO')
    l.send(gw_hello())
    r = l.record()
    check(r is not None and r[0] == HELLO and r[1] == 0,
          'the answer to HELLO is HELLO')
    body = r[2]
    check(len(body) >= 10, 'HELLO body holds version, caps, max_record')
    version, caps, maxr = struct.unpack('>HII', body[:10])
    check(version == 1, 'backend HELLO version 1')
    check(caps == 0, 'backend HELLO capabilities 0')
    check(maxr == MAX_RECORD, 'backend max_record 1049088')
    f, ok = body[10:], True
    while f:
        if len(f) < 3 or len(f) < 3 + struct.unpack('>H', f[1:3])[0]:
            ok = False
            break
        f = f[3 + struct.unpack('>H', f[1:3])[0]:]
    check(ok, 'backend HELLO fields are well formed')

    # a gateway speaking a higher version gets version 1
    l2 = Link(hello=False)
    l2.send(gw_hello(version=7, fields=b''))
    r = l2.record()
    check(r is not None and r[0] == HELLO
          and struct.unpack('>H', r[2][:2])[0] == 1,
          'a gateway offering version 7 is answered version 1')
    l2.close()

    # an unknown HELLO field is skipped
    l3 = Link(hello=False)
    l3.send(gw_hello(fields=b'\x7e\x00\x02ab' + b'\x01\x00\x01x'))
    r = l3.record()
    check(r is not None and r[0] == HELLO, 'an unknown HELLO field is skipped')
    l3.close()
    l.close()


def test_ping_and_echo():
    l = Link()

    l.send(bytes.fromhex('0000000a02000000000000000007'))
    check(l.raw(14) == bytes.fromhex('0000000a03000000000000000007'),
          'PING 7 -> PONG 7 (the worked example)')

    # the OPEN of the worked example: REMOTE, URI, PARAM sub=alice
    l.send(bytes.fromhex(
        '00000037' '10' '00' '0000d2a5c3000001'
        '10000f' '3132372e302e302e313a3530333132'
        '11000c' '2f636861743f726f6f6d3d31'
        '130009' '03737562' '616c696365'))
    l.send(bytes.fromhex('0000000c11000000d2a5c30000016869'))
    check(l.raw(16) == bytes.fromhex('0000000c20000000d2a5c30000016869'),
          'MESSAGE text "hi" -> SEND text "hi" (the worked example)')

    l.send(bytes.fromhex('0000000c11010000d2a5c3000001 00ff'
                         .replace(' ', '')))
    check(l.raw(16) == bytes.fromhex('0000000c20010000d2a5c300000100ff'),
          'MESSAGE binary 00 ff -> SEND binary 00 ff')

    l.send(message(SID, b''))
    check(l.record() == (SEND, 0, struct.pack('>Q', SID)),
          'empty text message echoed')
    l.send(message(SID, b'', binary=True))
    check(l.record() == (SEND, 1, struct.pack('>Q', SID)),
          'empty binary message echoed')

    big = bytes((i * 7 + 3) & 0xff for i in range(1 << 20))
    l.send(message(SID + 1, big, binary=True))
    check(l.record(10) == (SEND, 1, struct.pack('>Q', SID + 1) + big),
          '1 MiB binary message echoed')

    # the largest record the backend accepts: length == max_record
    top = b'x' * (MAX_RECORD - 10)
    l.send(message(SID, top))
    check(l.record(10) == (SEND, 0, struct.pack('>Q', SID) + top),
          'a record of length max_record is echoed')

    # a 1 MiB message dribbled in 7000-byte writes
    rec_big = message(SID + 2, big)
    for i in range(0, len(rec_big), 7000):
        l.send(rec_big[i:i + 7000])
    check(l.record(10) == (SEND, 0, struct.pack('>Q', SID + 2) + big),
          '1 MiB message written in 7000-byte pieces echoed')

    # 1000 records in one write, in order
    batch = b''.join(message(SID + i, b'm%d' % i, binary=bool(i & 1))
                     for i in range(1000))
    l.send(batch)
    ok = True
    for i in range(1000):
        r = l.record()
        if r != (SEND, i & 1, struct.pack('>Q', SID + i) + b'm%d' % i):
            ok = False
            break
    check(ok, '1000 records in one write -> 1000 SENDs in order')
    check(l.quiet(0.1), 'no more than one SEND per MESSAGE')

    # CLOSE, GONE and PONG get no answer; the next PING's PONG comes first
    l.send(rec(CLOSE_EV, struct.pack('>QHB', SID, 1000, 0) + b'bye'))
    l.send(rec(GONE, struct.pack('>QB', SID, SEND)))
    l.send(rec(PONG, struct.pack('>Q', 9)))
    l.send(open_ev(SID + 5))
    l.send(rec(PING, struct.pack('>Q', 0x0102030405060708)))
    check(l.record() == (PONG, 0, struct.pack('>Q', 0x0102030405060708)),
          'CLOSE, GONE, PONG and OPEN get no answer')

    # OPEN with APPROVE is accepted
    l.send(open_ev(SID + 6, flags=0x02, fields=b'\x11\x00\x01/'))
    check(l.record() == (ACCEPT, 0, struct.pack('>Q', SID + 6)),
          'OPEN with APPROVE -> ACCEPT')
    l.close()


def test_small_gateway():
    # a gateway that accepts records of 1024 bytes at most: a MESSAGE the
    # SEND of which would not fit closes its session with 1009
    l = Link(hello=False)
    l.send(gw_hello(max_record=1024))
    check(l.record() is not None, 'HELLO with max_record 1024')
    l.send(message(SID, b'y' * 1014) + message(SID + 1, b'z' * 1015))
    check(l.record() == (SEND, 0, struct.pack('>Q', SID) + b'y' * 1014),
          'a SEND of length 1024 to a gateway of max_record 1024')
    r = l.record()
    check(r is not None and r[0] == CLOSE and r[1] == 0
          and r[2][:10] == struct.pack('>QH', SID + 1, 1009),
          'a message too big for the gateway -> CLOSE 1009 (got %r)'
          % ((r if r is None else r[:2] + (r[2][:20],)),))
    l.send(open_ev(SID + 2, flags=0x01))
    l.send(rec(PING, struct.pack('>Q', 3)))
    check(l.record() == (PONG, 0, struct.pack('>Q', 3)),
          'OPEN with REANNOUNCE is taken')
    l.close()


def test_split():
    l = Link()
    r = (message(SID, b'split me', binary=True) +
         rec(PING, struct.pack('>Q', 42)))
    want = [(SEND, 1, struct.pack('>Q', SID) + b'split me'),
            (PONG, 0, struct.pack('>Q', 42))]
    ok = True
    for k in range(1, len(r)):
        l.send(r[:k])
        time.sleep(0.003)
        l.send(r[k:])
        if [l.record(), l.record()] != want:
            ok = False
            print('split at %d failed' % k, file=sys.stderr)
            break
    check(ok, 'records split at every byte are echoed')

    ok = True
    for b in r:
        l.send(bytes([b]))
        time.sleep(0.001)
    check([l.record(), l.record()] == want,
          'records written one byte at a time are echoed')
    l.close()


def test_errors():
    l = Link()
    l.send(struct.pack('>I', MAX_RECORD + 1))
    expect_error(l, 3, 'length max_record + 1 (4 bytes only)')

    l = Link()
    l.send(struct.pack('>IBB', 0xffffffff, MESSAGE, 0) + b'x' * 100000)
    expect_error(l, 3, 'length 0xffffffff with data behind it')

    l = Link()
    l.send(rec(0x7f, b'abc'))
    expect_error(l, 4, 'type 0x7f')

    # a bad type is refused on its header, before its body has come
    l = Link()
    l.send(struct.pack('>IBB', 1000, 0x7f, 0))
    expect_error(l, 4, 'type 0x7f, header only')

    l = Link()
    l.send(rec(SEND, struct.pack('>Q', SID) + b'hi'))
    expect_error(l, 4, 'a SEND (backend direction) from the gateway')

    l = Link()
    l.send(rec(0x40, b''))
    expect_error(l, 5, 'flow control type 0x40 without FLOW')

    l = Link()
    l.send(struct.pack('>IB', 1, PING))
    expect_error(l, 1, 'length 1')

    l = Link()
    l.send(rec(PING, struct.pack('>Q', 1), flags=0x01))
    expect_error(l, 1, 'PING with flag 0x01')

    l = Link()
    l.send(rec(PING, struct.pack('>Q', 1) + b'x'))
    expect_error(l, 1, 'PING of length 11')

    l = Link()
    l.send(message(SID, b'x', binary=False)[:5] + b'\x02' +
           message(SID, b'x')[6:])
    expect_error(l, 1, 'MESSAGE with flag 0x02')

    l = Link()
    l.send(rec(MESSAGE, b'\x00' * 7))
    expect_error(l, 1, 'MESSAGE shorter than a session id')

    l = Link()
    l.send(open_ev(SID, fields=b'\x10\x00\x09abc'))
    expect_error(l, 1, 'OPEN with a field running past the record')

    l = Link()
    l.send(rec(CLOSE_EV, struct.pack('>QHB', SID, 1000, 0) + b'r' * 124))
    expect_error(l, 1, 'CLOSE event with a 124-byte reason')

    l = Link()
    l.send(gw_hello())
    expect_error(l, 5, 'a second HELLO')

    l = Link(hello=False)
    l.send(rec(PING, struct.pack('>Q', 1)))
    expect_error(l, 5, 'PING before HELLO')

    l = Link(hello=False)
    l.send(gw_hello(version=0))
    expect_error(l, 2, 'HELLO version 0')

    # what was answered before the bad record is delivered before ERROR
    l = Link()
    l.send(message(SID, b'first') + rec(0x7f))
    check(l.record() == (SEND, 0, struct.pack('>Q', SID) + b'first'),
          'the SEND before a bad record is written')
    expect_error(l, 4, 'a bad type after a good MESSAGE')

    l = Link()
    l.send(message(0, b'x'))
    expect_error(l, 1, 'MESSAGE for session id 0')

    # an ERROR from the gateway: the backend closes the link
    l = Link()
    l.send(rec(ERROR, struct.pack('>H', 6) + b'going away'))
    check(l.eof(), 'the backend closes the link after the gateway ERROR')
    l.close()

    # a link closed in the middle of a record does not disturb others
    l = Link()
    l.send(message(SID, b'abc')[:9])
    l.close()


def test_many_links():
    links = [Link(hello=False) for _ in range(200)]
    for l in links:
        l.send(gw_hello())
    ok = all(l.record() is not None for l in links)
    check(ok, '200 concurrent links get HELLO')

    for n, l in enumerate(links):
        l.send(b''.join(message(n << 16 | i + 1, b'%d/%d' % (n, i))
                        for i in range(100)))
    ok = True
    for n, l in enumerate(links):
        for i in range(100):
            if l.record() != (SEND, 0, struct.pack('>Q', n << 16 | i + 1)
                              + b'%d/%d' % (n, i)):
                ok = False
    check(ok, '200 links x 100 messages each echoed on their own link')
    for l in links:
        l.close()


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


def test_backpressure(proc):
    l = Link()
    l.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    payload = b'p' * 65526
    n = 1024                                  # 64 MiB in all
    one = message(SID, payload, binary=True)
    done = threading.Event()

    def writer():
        try:
            for _ in range(n):
                l.s.sendall(one)
        except OSError:
            pass
        done.set()

    before = rss_kb(proc.pid)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(1.5)
    check(not done.is_set(),
          'a gateway that does not read is pushed back on (writer blocked)')
    grown = rss_kb(proc.pid) - before
    limit = int(os.environ.get('ECHO_BACKEND_RSS_KB', 24 * 1024))
    check(grown < limit,
          'memory stays bounded while a link is stuck (%d KiB)' % grown)

    # other links are served meanwhile
    o = Link()
    o.send(rec(PING, struct.pack('>Q', 5)))
    check(o.record(2) == (PONG, 0, struct.pack('>Q', 5)),
          'another link is served while one is stuck')
    o.close()

    got = 0
    total = n * len(one)
    ok = True
    while got < total:
        d = l.raw(min(total - got, 1 << 20), timeout=10)
        if d is None:
            ok = False
            break
        got += len(d)
    t.join(10)
    check(ok and done.is_set(), 'every message of the stuck link is echoed')
    check(l.quiet(0.1), 'and nothing more')
    l.close()


def main():
    if not os.access(BIN, os.X_OK):
        print('no %s: build it first (make build)' % BIN, file=sys.stderr)
        return 1

    # stderr to a file: a full pipe would block the backend
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen([BIN, '%s:%d' % (HOST, PORT)],
                            stdout=subprocess.PIPE, stderr=errf)
    timer = threading.Timer(30, proc.kill)
    timer.start()
    try:
        line = proc.stdout.readline().decode()
        check(line == 'echo-backend: listening on %s:%d\n' % (HOST, PORT),
              'the ready line (got %r)' % line)
        if proc.poll() is not None:
            errf.seek(0)
            print(errf.read().decode(), file=sys.stderr)
            return 1

        for name, fn in (('hello', test_hello),
                         ('echo', test_ping_and_echo),
                         ('small gateway', test_small_gateway),
                         ('split', test_split),
                         ('errors', test_errors),
                         ('many links', test_many_links),
                         ('backpressure', lambda: test_backpressure(proc))):
            try:
                fn()
            except (OSError, ValueError, TypeError, struct.error) as e:
                check(False, '%s: %s: %r' % (name, type(e).__name__, e))

        # shutdown: a live link gets ERROR 6, the process exits 0
        l = Link()
        proc.send_signal(signal.SIGTERM)
        r = l.record()
        check(r is not None and r[0] == ERROR
              and struct.unpack('>H', r[2][:2])[0] == 6,
              'SIGTERM: the link gets ERROR 6')
        check(l.eof(), 'SIGTERM: then the link is closed')
        l.close()
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, 'SIGTERM: exit status 0 (got %r)' % rc)
        check(time.monotonic() < DEADLINE, 'the run took under 30 s')

    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errf.seek(0)
        err = errf.read().decode(errors='replace')
        errf.close()

    check('ERROR 3' in err and 'gateway sent ERROR 6' in err,
          'bad records and gateway ERRORs are logged to stderr')
    check('Sanitizer' not in err and 'runtime error' not in err,
          'no sanitizer report on stderr')
    if failures or os.environ.get('ECHO_BACKEND_VERBOSE'):
        sys.stderr.write(err)

    if failures:
        print('%d of %d checks failed' % (len(failures), checks))
        return 1

    print('echo backend: %d checks passed' % checks)
    return 0


if __name__ == '__main__':
    sys.exit(main())
