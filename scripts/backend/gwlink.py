"""gwlink: a backend library for the ngx_ws_gateway_module link protocol.

Written from docs/protocol.md (version 1) alone; the section numbers in
the comments are that page's.  Python 3.11, standard library only.

A service is any object with some of these methods:

    on_open(session)                        the session is open (after the
                                            101, or after our ACCEPT)
    on_message(session, data, binary)       data: str (text) or bytes
    on_close(session, code, by, reason)     the last call about a session
    on_approve(session)                     only for OPEN with APPROVE:
                                            True/None: ACCEPT, False: REJECT
                                            403, (status, text): REJECT,
                                            DEFER: decide later with
                                            session.accept()/.reject()
    on_gone(link, session_id, command)      GONE from the gateway
    on_link_open(link), on_link_close(link)

Then serve(service, "127.0.0.1:7000").
"""

import asyncio
import collections
import os
import signal
import struct
import sys
import traceback
import urllib.parse

VERSION = 1

# record types (section 4)
HELLO = 0x01
PING = 0x02
PONG = 0x03
ERROR = 0x04
OPEN = 0x10
MESSAGE = 0x11
CLOSE_EVENT = 0x12
GONE = 0x13
SEND = 0x20
CLOSE = 0x21
ACCEPT = 0x22
REJECT = 0x23
SUBSCRIBE = 0x30
UNSUBSCRIBE = 0x31
PUBLISH = 0x32
BROADCAST = 0x33

# flags
F_BINARY = 0x01         # MESSAGE, SEND, PUBLISH, BROADCAST
F_REANNOUNCE = 0x01     # OPEN
F_APPROVE = 0x02        # OPEN

# capabilities (section 3)
CAP_CHANNELS = 0x1
CAP_FLOW = 0x2

# HELLO fields
HF_NAME = 0x01
HF_SOFTWARE = 0x02
HF_WORKER = 0x03
HF_HEARTBEAT = 0x04
HF_LINK = 0x05

# OPEN fields (section 5.1)
OF_REMOTE = 0x10
OF_URI = 0x11
OF_SUBPROTOCOL = 0x12
OF_PARAM = 0x13
OF_CHANNEL = 0x14
OF_DROPPED = 0x15

# ERROR codes (section 8)
E_MALFORMED = 1
E_VERSION = 2
E_TOO_LARGE = 3
E_UNKNOWN_TYPE = 4
E_NOT_NOW = 5
E_GOING_AWAY = 6

# CLOSE event "by"
BY_CLIENT = 0
BY_GATEWAY = 1
BY_BACKEND = 2

MIN_MAX_RECORD = 1024
DEFAULT_MAX_RECORD = 1024 * 1024 + 512
MAX_REASON = 123
MAX_LOG_TEXT = 1024
HELLO_TIMEOUT = 10.0        # our guess: the gateway sends HELLO at once
DRAIN_TIMEOUT = 30.0

SOFTWARE = "gwlink.py/1"

DEFER = object()

# the body bounds of what the gateway may send: type -> (min body,
# max body or None, flags allowed); body = length - 2
_EVENT_BOUNDS = {
    HELLO: (10, None, 0),
    PING: (8, 8, 0),
    PONG: (8, 8, 0),
    ERROR: (2, None, 0),
    OPEN: (8, None, F_REANNOUNCE | F_APPROVE),
    MESSAGE: (8, None, F_BINARY),
    CLOSE_EVENT: (11, 11 + MAX_REASON, 0),
    GONE: (9, 9, 0),
}

_COMMANDS = {SEND, CLOSE, ACCEPT, REJECT,
             SUBSCRIBE, UNSUBSCRIBE, PUBLISH, BROADCAST}

_u16 = struct.Struct(">H")
_u32 = struct.Struct(">I")
_u64 = struct.Struct(">Q")
_header = struct.Struct(">IBB")


def valid_close_code(code):
    """The codes a CLOSE command may carry (section 6.2)."""
    return (code in (1000, 1001, 1003) or 1007 <= code <= 1014
            or 3000 <= code <= 4999)


class ProtocolError(Exception):
    """A bad record from the other side: ERROR `code`, then close."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text


def log(*args):
    print("gwlink:", *args, file=sys.stderr, flush=True)


def debug(*args):
    if os.environ.get("GWLINK_DEBUG"):
        log(*args)


# --- the codec -------------------------------------------------------

def encode(rtype, flags, body=b""):
    """One record: u32 length, u8 type, u8 flags, body."""
    return _header.pack(len(body) + 2, rtype, flags) + body


def encode_fields(fields):
    """[(type, bytes)] -> the field list of HELLO and OPEN."""
    out = []
    for ftype, value in fields:
        if len(value) > 0xffff:
            raise ValueError("field value over 65535 bytes")
        out.append(struct.pack(">BH", ftype, len(value)))
        out.append(value)
    return b"".join(out)


def decode_fields(body, offset):
    """The fields from body[offset:] to its end, as [(type, bytes)]."""
    fields = []
    end = len(body)
    while offset < end:
        if end - offset < 3:
            raise ProtocolError(E_MALFORMED, "truncated field header")
        ftype = body[offset]
        (n,) = _u16.unpack_from(body, offset + 1)
        offset += 3
        if end - offset < n:
            raise ProtocolError(E_MALFORMED, "field 0x%02x runs past the "
                                "record" % ftype)
        fields.append((ftype, bytes(body[offset:offset + n])))
        offset += n
    return fields


class Decoder:
    """Incremental: feed() any bytes, get back the whole records in them.

    The length is checked as soon as its 4 bytes are in, so a record
    above max_record is refused before it is buffered.
    """

    def __init__(self, max_record):
        self.max_record = max_record
        self.buf = bytearray()

    def feed(self, data):
        buf = self.buf
        buf += data
        records = []
        pos = 0
        have = len(buf)
        while have - pos >= 4:
            (length,) = _u32.unpack_from(buf, pos)
            if length < 2:
                raise ProtocolError(E_MALFORMED, "length %d below 2" % length)
            if length > self.max_record:
                raise ProtocolError(E_TOO_LARGE, "length %d above max_record"
                                    " %d" % (length, self.max_record))
            if have - pos < 4 + length:
                break
            rtype = buf[pos + 4]
            flags = buf[pos + 5]
            body = bytes(buf[pos + 6:pos + 4 + length])
            records.append((rtype, flags, body))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return records


def check_event(rtype, flags, body, capabilities=0):
    """The checks of sections 4 and 8 that need only the record itself."""
    bounds = _EVENT_BOUNDS.get(rtype)
    if bounds is None:
        if rtype in _COMMANDS:
            raise ProtocolError(E_UNKNOWN_TYPE, "type 0x%02x is a command "
                                "(backend -> gateway)" % rtype)
        if 0x40 <= rtype <= 0x4f:
            if not capabilities & CAP_FLOW:
                raise ProtocolError(E_NOT_NOW, "flow control record 0x%02x "
                                    "without FLOW" % rtype)
        raise ProtocolError(E_UNKNOWN_TYPE, "unknown type 0x%02x" % rtype)
    lo, hi, allowed = bounds
    if flags & ~allowed:
        raise ProtocolError(E_MALFORMED, "flags 0x%02x not defined for type "
                            "0x%02x" % (flags, rtype))
    n = len(body)
    if n < lo or (hi is not None and n > hi):
        raise ProtocolError(E_MALFORMED, "length %d out of bounds for type "
                            "0x%02x" % (n + 2, rtype))


def _text(value):
    """Text fields as str; bytes that are not UTF-8 survive as escapes."""
    return value.decode("utf-8", "surrogateescape")


def _utf8(data, what):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(E_MALFORMED, what + " is not valid UTF-8")


# --- sessions and links ------------------------------------------------

class Session:
    """One WebSocket session, known only to the link its OPEN came on."""

    def __init__(self, link, sid):
        self.link = link
        self.id = sid
        self.remote = None
        self.uri = None
        self.subprotocol = None
        self.params = {}
        self.state = "open"     # approving, open, closing, closed
        self.approve = False
        self.lost = False       # closed because its link ended
        self.data = {}          # for the service

    @property
    def path(self):
        return urllib.parse.urlsplit(self.uri or "").path

    @property
    def query(self):
        q = urllib.parse.urlsplit(self.uri or "").query
        return dict(urllib.parse.parse_qsl(q, keep_blank_values=True))

    def send(self, data, binary=False):
        return self.link.send(self, data, binary)

    def close(self, code=1000, reason=""):
        return self.link.close(self, code, reason)

    def accept(self):
        return self.link.accept(self)

    def reject(self, status=403, text=""):
        return self.link.reject(self, status, text)

    def __repr__(self):
        return "<Session %016x on %s %s>" % (self.id, self.link, self.state)


class Link:
    """One TCP connection from a gateway worker."""

    def __init__(self, server, reader, writer):
        self.server = server
        self.service = server.service
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.sessions = {}
        # ids we REJECTed: a CLOSE (approve timeout, client gone) may
        # cross our REJECT on the wire; bounded
        self.rejected = collections.OrderedDict()
        self.decoder = Decoder(server.max_record)
        self.hello_done = False
        self.closed = False
        # from the gateway's HELLO
        self.version = None
        self.capabilities = 0
        self.max_record = None
        self.name = None
        self.software = None
        self.worker = None      # (pid, slot)
        self.heartbeat = None   # ms
        self.index = None
        self._out = []
        self._flush_handle = None

    def __repr__(self):
        return "link(%s %s#%s)" % (self.name, self.worker, self.index)

    # --- writing: records are queued and written together

    def _write(self, record):
        if self.closed:
            return False
        self._out.append(record)
        self.server.dirty.add(self)
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(
                self._flush)
        return True

    def _flush(self):
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._out and not self.closed:
            data = b"".join(self._out)
            self._out.clear()
            self.writer.write(data)

    def _check_size(self, body):
        if self.max_record is not None and len(body) + 2 > self.max_record:
            raise ValueError("record of length %d above the gateway's "
                             "max_record %d" % (len(body) + 2,
                                                self.max_record))

    # --- commands (section 6)

    def send(self, session, data, binary=False):
        """SEND; False if the session is already ending (dropped)."""
        if session.link is not self:
            raise ValueError("session %x belongs to another link" % session.id)
        if session.state == "approving":
            raise RuntimeError("SEND before the session was accepted")
        if session.state != "open":
            return False
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not binary:
            data = bytes(data)
            data.decode("utf-8")        # raises on bad UTF-8
        body = _u64.pack(session.id) + data
        self._check_size(body)
        return self._write(encode(SEND, F_BINARY if binary else 0, body))

    def close(self, session, code=1000, reason=""):
        """CLOSE command; the CLOSE event (by 2) comes later."""
        if session.state == "approving":
            raise RuntimeError("CLOSE of a session waiting for its verdict: "
                               "use reject()")
        if session.state != "open":
            return False
        if not valid_close_code(code):
            raise ValueError("close code %d not allowed" % code)
        r = reason.encode("utf-8") if isinstance(reason, str) else reason
        r.decode("utf-8")
        if len(r) > MAX_REASON:
            raise ValueError("reason over %d bytes" % MAX_REASON)
        session.state = "closing"
        return self._write(encode(CLOSE, 0, _u64.pack(session.id)
                                  + _u16.pack(code) + r))

    def accept(self, session):
        if session.state != "approving":
            raise RuntimeError("ACCEPT of a session not waiting for one")
        session.state = "open"
        self._write(encode(ACCEPT, 0, _u64.pack(session.id)))
        self._call("on_open", session)
        return True

    def reject(self, session, status=403, text=""):
        if session.state != "approving":
            raise RuntimeError("REJECT of a session not waiting for one")
        if not 400 <= status <= 599:
            raise ValueError("REJECT status %d outside 400-599" % status)
        t = text.encode("utf-8") if isinstance(text, str) else text
        if len(t) > MAX_LOG_TEXT:
            raise ValueError("REJECT text over %d bytes" % MAX_LOG_TEXT)
        session.state = "closed"
        self.sessions.pop(session.id, None)
        self.rejected[session.id] = True
        while len(self.rejected) > 4096:
            self.rejected.popitem(last=False)
        return self._write(encode(REJECT, 0, _u64.pack(session.id)
                                  + _u16.pack(status) + t))

    def ping(self, opaque):
        return self._write(encode(PING, 0, _u64.pack(opaque)))

    def error(self, code, text):
        """ERROR is the last record: write it, then close."""
        t = text.encode("utf-8")[:MAX_LOG_TEXT]
        self._write(encode(ERROR, 0, _u16.pack(code) + t))
        self._flush()
        self.abort()

    def abort(self):
        if not self.closed:
            self._flush()
            self.closed = True
            self.writer.close()

    # --- the service

    def _call(self, name, *args):
        fn = getattr(self.service, name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except Exception:
            log("%s: %s raised:" % (self, name))
            traceback.print_exc()
            return None

    # --- reading

    async def run(self):
        try:
            await self._run()
        except ProtocolError as e:
            log("%s %s: bad record from the gateway: %s (ERROR %d)"
                % (self, self.peer, e.text, e.code))
            self.error(e.code, e.text)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            debug("%s: %s" % (self, e))
        except asyncio.TimeoutError:
            log("%s: nothing from the gateway in time, closing" % self)
        except asyncio.CancelledError:
            pass
        finally:
            self.abort()
            self._teardown()

    async def _read(self):
        if not self.hello_done:
            timeout = HELLO_TIMEOUT
        elif self.heartbeat:
            # like the gateway's read timeout: three heartbeats (a guess)
            timeout = 3 * self.heartbeat / 1000.0 + 1.0
        else:
            timeout = None
        return await asyncio.wait_for(self.reader.read(256 * 1024), timeout)

    async def _run(self):
        while not self.closed:
            data = await self._read()
            if not data:
                return
            for rtype, flags, body in self.decoder.feed(data):
                self._dispatch(rtype, flags, body)
                if self.closed:
                    return
            await self.server.drain_dirty(self)

    def _dispatch(self, rtype, flags, body):
        check_event(rtype, flags, body, self.capabilities)
        if not self.hello_done:
            if rtype != HELLO:
                raise ProtocolError(E_NOT_NOW, "type 0x%02x before HELLO"
                                    % rtype)
            return self._on_hello(body)
        if rtype == HELLO:
            raise ProtocolError(E_NOT_NOW, "a second HELLO")
        if rtype == PING:
            self._write(encode(PONG, 0, body))
        elif rtype == PONG:
            debug("%s: PONG %s" % (self, body.hex()))
        elif rtype == ERROR:
            (code,) = _u16.unpack_from(body, 0)
            log("%s: ERROR %d from the gateway: %s"
                % (self, code, body[2:].decode("utf-8", "replace")))
            self.abort()
        elif rtype == OPEN:
            self._on_open(flags, body)
        elif rtype == MESSAGE:
            self._on_message(flags, body)
        elif rtype == CLOSE_EVENT:
            self._on_close(body)
        elif rtype == GONE:
            (sid,) = _u64.unpack_from(body, 0)
            debug("%s: GONE %016x for 0x%02x" % (self, sid, body[8]))
            if body[8] in (ACCEPT, REJECT):
                self.rejected.pop(sid, None)
            self._call("on_gone", self, sid, body[8])

    def _on_hello(self, body):
        version, caps, max_record = struct.unpack_from(">HII", body, 0)
        fields = decode_fields(body, 10)
        if version < 1:
            raise ProtocolError(E_VERSION, "version %d" % version)
        self.version = min(version, VERSION)
        self.capabilities = 0           # we use none of them
        self.max_record = max_record
        for ftype, value in fields:
            if ftype == HF_NAME:
                self.name = _text(value)
            elif ftype == HF_SOFTWARE:
                self.software = _text(value)
            elif ftype == HF_WORKER:
                if len(value) != 6:
                    raise ProtocolError(E_MALFORMED, "WORKER field of %d "
                                        "bytes" % len(value))
                self.worker = struct.unpack(">IH", value)
            elif ftype == HF_HEARTBEAT:
                if len(value) != 4:
                    raise ProtocolError(E_MALFORMED, "HEARTBEAT field of %d "
                                        "bytes" % len(value))
                (self.heartbeat,) = _u32.unpack(value)
            elif ftype == HF_LINK:
                if len(value) != 4:
                    raise ProtocolError(E_MALFORMED, "LINK field of %d bytes"
                                        % len(value))
                (self.index,) = _u32.unpack(value)
        fields = []
        if self.server.name is not None:
            fields.append((HF_NAME, self.server.name.encode("utf-8")))
        if self.server.software is not None:
            fields.append((HF_SOFTWARE, self.server.software.encode("utf-8")))
        self._write(encode(HELLO, 0, struct.pack(
            ">HII", self.version, self.capabilities, self.server.max_record)
            + encode_fields(fields)))
        self.hello_done = True
        debug("%s: HELLO version %d caps %x max_record %d software %s"
              % (self, version, caps, max_record, self.software))
        self._call("on_link_open", self)

    def _session(self, body, what):
        (sid,) = _u64.unpack_from(body, 0)
        s = self.sessions.get(sid)
        if s is None:
            raise ProtocolError(E_MALFORMED, "%s for session %016x that is "
                                "not open on this link" % (what, sid))
        return s

    def _on_open(self, flags, body):
        (sid,) = _u64.unpack_from(body, 0)
        if sid == 0:
            raise ProtocolError(E_MALFORMED, "OPEN of session 0")
        if flags & F_REANNOUNCE and not self.capabilities & CAP_CHANNELS:
            raise ProtocolError(E_NOT_NOW, "REANNOUNCE without CHANNELS")
        if sid in self.sessions:
            raise ProtocolError(E_MALFORMED, "second OPEN of session %016x"
                                % sid)
        s = Session(self, sid)
        for ftype, value in decode_fields(body, 8):
            if ftype == OF_REMOTE:
                s.remote = _text(value)
            elif ftype == OF_URI:
                s.uri = _text(value)
            elif ftype == OF_SUBPROTOCOL:
                s.subprotocol = _text(value)
            elif ftype == OF_PARAM:
                if len(value) < 1 or len(value) < 1 + value[0]:
                    raise ProtocolError(E_MALFORMED, "PARAM name runs past "
                                        "the field")
                k = value[0]
                s.params[_text(value[1:1 + k])] = _text(value[1 + k:])
            # CHANNEL, DROPPED (re-announce only) and unknown: skipped
        self.rejected.pop(sid, None)
        self.sessions[sid] = s
        if not flags & F_APPROVE:
            self._call("on_open", s)
            return
        s.state = "approving"
        s.approve = True
        if getattr(self.service, "on_approve", None) is None:
            verdict = True
        else:
            verdict = self._call("on_approve", s)
        if verdict is DEFER or s.state != "approving":
            return
        if verdict is None or verdict is True:
            self.accept(s)
        elif verdict is False:
            self.reject(s, 403, "rejected")
        else:
            status, text = verdict
            self.reject(s, status, text)

    def _on_message(self, flags, body):
        s = self._session(body, "MESSAGE")
        if s.state == "approving":
            raise ProtocolError(E_MALFORMED, "MESSAGE before ACCEPT")
        if flags & F_BINARY:
            self._call("on_message", s, body[8:], True)
        else:
            self._call("on_message", s, _utf8(body[8:], "text MESSAGE"),
                       False)

    def _on_close(self, body):
        (sid,) = _u64.unpack_from(body, 0)
        if sid not in self.sessions and self.rejected.pop(sid, None):
            return          # crossed our REJECT
        s = self._session(body, "CLOSE")
        code, by = struct.unpack_from(">HB", body, 8)
        if by > BY_BACKEND:
            raise ProtocolError(E_MALFORMED, "CLOSE by %d" % by)
        reason = _utf8(body[11:], "CLOSE reason")
        del self.sessions[sid]
        s.state = "closed"
        self._call("on_close", s, code, by, reason)

    def _teardown(self):
        """The link is gone: so is every session it carried (5.4)."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        self.server.links.discard(self)
        self.server.dirty.discard(self)
        for s in sessions:
            s.state = "closed"
            s.lost = True
            self._call("on_close", s, 1011, BY_GATEWAY, "link lost")
        if self.hello_done:
            self._call("on_link_close", self)


class Server:
    def __init__(self, service, name=None, max_record=DEFAULT_MAX_RECORD,
                 software=SOFTWARE):
        if max_record < MIN_MAX_RECORD:
            raise ValueError("max_record must be at least %d"
                             % MIN_MAX_RECORD)
        self.service = service
        self.name = name
        self.software = software
        self.max_record = max_record
        self.links = set()
        self.dirty = set()
        self.tasks = set()

    async def _accept(self, reader, writer):
        link = Link(self, reader, writer)
        self.links.add(link)
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            await link.run()
        finally:
            self.tasks.discard(task)

    async def drain_dirty(self, reader_link):
        """Flush every link written to, then wait until their buffers
        drain: one write per link per read, and back pressure on the
        link that caused the writes."""
        dirty = list(self.dirty)
        self.dirty.clear()
        for link in dirty:
            link._flush()
        for link in dirty:
            if link.closed:
                continue
            try:
                await asyncio.wait_for(link.writer.drain(), DRAIN_TIMEOUT)
            except (ConnectionError, asyncio.TimeoutError) as e:
                log("%s: cannot write: %r" % (link, e))
                link.abort()
                if link is reader_link:
                    raise ConnectionResetError("write failed")

    def going_away(self):
        for link in list(self.links):
            if link.hello_done:
                link.error(E_GOING_AWAY, "going away")
            else:
                link.abort()


def parse_host_port(host_port):
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError("expected HOST:PORT, got %r" % host_port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


async def serve_async(service, host_port, **kw):
    server = Server(service, **kw)
    host, port = parse_host_port(host_port)
    srv = await asyncio.start_server(server._accept, host, port,
                                     reuse_address=True)
    port = srv.sockets[0].getsockname()[1]
    shown = "[%s]" % host if ":" in host else host
    print("gwlink: listening on %s:%d" % (shown, port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with srv:
        await stop.wait()
        srv.close()
        server.going_away()
        for t in list(server.tasks):
            t.cancel()
        await asyncio.sleep(0.05)


def serve(service, host_port, **kw):
    """Listen on host_port and serve links until SIGTERM or SIGINT."""
    asyncio.run(serve_async(service, host_port, **kw))


def main_args(argv, usage):
    if len(argv) != 2:
        print("usage: %s HOST:PORT" % usage, file=sys.stderr)
        sys.exit(2)
    return argv[1]
