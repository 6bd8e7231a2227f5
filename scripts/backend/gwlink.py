"""gwlink: a backend library for the ngx_ws_gateway_module link protocol.

Written from docs/protocol.md (version 1) alone; the section numbers in
the comments are that page's.  Python 3.11, standard library only.

A service is any object with some of these methods:

    on_start(server)                        listening; keep `server` for
                                            publish() and broadcast()
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
    on_pong(link, opaque)                   PONG to our link.ping(opaque):
                                            the gateway has handled what we
                                            wrote on the link before it

With a gateway that announces CHANNELS (HELLO capability 0x1, which the
library then uses too):

    on_refused(session, command, code)      REFUSED: command SUBSCRIBE or
                                            UNSUBSCRIBE, code REFUSED_*
                                            (1 name too long, 2 too many
                                            channels, 3 channels off).  The
                                            record names no channel, so
                                            session.channels is cleared for
                                            code 3 only
    on_dropped(session, count)              DROPPED: the gateway dropped
                                            `count` messages to the client
                                            (its queue was full, policy drop)
    on_reannounce(session, info)            OPEN with REANNOUNCE: a link of
                                            the gateway was lost and the
                                            session moved to this link.
                                            info.known: the library already
                                            had the session (it moved from
                                            another link of this process;
                                            the same Session object, updated:
                                            never a second on_open);
                                            info.channels, info.dropped,
                                            info.unsent, info.unconfirmed:
                                            the OPEN's fields.  Without
                                            on_reannounce: on_open(session)
                                            for a session not known, nothing
                                            for a known one
    on_detach(session)                      its link was lost; the gateway
                                            keeps it and re-announces it on
                                            another link; on_close(session,
                                            1006, BY_GATEWAY, "link lost")
                                            if no re-announce comes to this
                                            process within detach_timeout

Sessions (Session): .id, .link (None while detached), .remote, .uri,
.path, .query, .subprotocol, .params, .state ("approving", "open",
"detached", "closing", "closed"), .channels (set of str: what we
subscribed, or what the last re-announce listed), .dropped (messages the
gateway reported dropped: DROPPED records and re-announce DROPPED
fields), .reannounced (how many times), .unsent and .unconfirmed (the
last re-announce's), .data (for the service).  Commands:
session.send(data, binary=False), .close(code, reason), .accept(),
.reject(status, text), .subscribe(channel), .unsubscribe(channel): False
when not written (the session is not open, or detached).

Fan-out (Server): server.publish(channel, data, binary=False, via=None)
and server.broadcast(data, binary=False, via=None) write one PUBLISH or
BROADCAST on ONE ready link per gateway worker: links are grouped by the
gateway HELLO's NAME and WORKER pid (a link without WORKER is a group of
its own).  Within a group the same link is used every time while it
lives, so publishes reach each worker in the order they were made.  With
`via` (a Session or a Link), that link is used for its own group
instead: a PUBLISH then stays in order with the commands written on that
link before and after it (e.g. a PUBLISH before a SUBSCRIBE does not
reach the session subscribed).  Both return how many links they wrote to.
A channel is 1 to 255 bytes (str as UTF-8); text data must be UTF-8.
server.sessions(): every session of this process, detached ones too.
server.groups(): {(name, pid): [links]}.  await server.flush(): writes
what is queued on every link and waits until it is taken (for code that
publishes outside a callback of a link's records).

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
REFUSED = 0x14
DROPPED = 0x15
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
OF_UNSENT = 0x16
OF_UNCONFIRMED = 0x17

# REFUSED codes (SUBSCRIBE, UNSUBSCRIBE)
REFUSED_TOO_LONG = 1
REFUSED_TOO_MANY = 2
REFUSED_OFF = 3

MAX_CHANNEL = 255

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
DETACH_TIMEOUT = 30.0       # our guess: above the gateway's failover timeout

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
    REFUSED: (10, 10, 0),
    DROPPED: (12, 12, 0),
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


def _channel(channel):
    """A channel name as bytes, 1 to 255 of them."""
    c = channel.encode("utf-8") if isinstance(channel, str) else bytes(channel)
    if not 1 <= len(c) <= MAX_CHANNEL:
        raise ValueError("channel of %d bytes (1 to %d)"
                         % (len(c), MAX_CHANNEL))
    return c


def _payload(data, binary):
    if isinstance(data, str):
        return data.encode("utf-8")
    data = bytes(data)
    if not binary:
        data.decode("utf-8")            # raises on bad UTF-8
    return data


class Reannounce:
    """What an OPEN with REANNOUNCE said (on_reannounce's info)."""

    def __init__(self, known, channels, dropped, unsent, unconfirmed):
        self.known = known
        self.channels = channels
        self.dropped = dropped
        self.unsent = unsent
        self.unconfirmed = unconfirmed

    def __repr__(self):
        return ("<Reannounce known=%s channels=%r dropped=%d unsent=%d "
                "unconfirmed=%d>" % (self.known, self.channels, self.dropped,
                                     self.unsent, self.unconfirmed))


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
        self.state = "open"     # approving, open, detached, closing, closed
        self.approve = False
        self.lost = False       # closed because its link ended
        self.data = {}          # for the service
        self.channels = set()
        self.dropped = 0
        self.reannounced = 0
        self.unsent = 0
        self.unconfirmed = 0
        self.key = None         # (gateway, worker pid, id) with CHANNELS
        self._detach_timer = None

    @property
    def server(self):
        return self.link.server if self.link is not None else None

    @property
    def path(self):
        return urllib.parse.urlsplit(self.uri or "").path

    @property
    def query(self):
        q = urllib.parse.urlsplit(self.uri or "").query
        return dict(urllib.parse.parse_qsl(q, keep_blank_values=True))

    def send(self, data, binary=False):
        if self.link is None:
            return False
        return self.link.send(self, data, binary)

    def close(self, code=1000, reason=""):
        if self.link is None:
            return False
        return self.link.close(self, code, reason)

    def accept(self):
        return self.link.accept(self)

    def reject(self, status=403, text=""):
        return self.link.reject(self, status, text)

    def subscribe(self, channel):
        if self.link is None:
            return False
        return self.link.subscribe(self, channel)

    def unsubscribe(self, channel):
        if self.link is None:
            return False
        return self.link.unsubscribe(self, channel)

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
        # ids of sessions re-announced on another link while this one was
        # still open: records for them that were on their way are dropped
        self.moved = set()
        # from the gateway's HELLO
        self.version = None
        self.capabilities = 0           # what we use
        self.gateway_capabilities = 0
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

    @property
    def channels(self):
        """The gateway announced CHANNELS and we use it."""
        return bool(self.capabilities & CAP_CHANNELS)

    @property
    def group(self):
        """The gateway worker this link comes from: (NAME, pid)."""
        if self.worker is None:
            return (self.name, None, id(self))
        return (self.name, self.worker[0])

    @property
    def ready(self):
        return self.hello_done and not self.closed

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
        data = _payload(data, binary)
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

    def _channel_command(self, rtype, session, channel):
        if session.link is not self:
            raise ValueError("session %x belongs to another link" % session.id)
        if not self.channels:
            raise RuntimeError("the gateway did not announce CHANNELS")
        c = _channel(channel)
        if session.state != "open":
            return None
        self._write(encode(rtype, 0, _u64.pack(session.id) + c))
        return c

    def subscribe(self, session, channel):
        """SUBSCRIBE; a REFUSED may follow (on_refused)."""
        c = self._channel_command(SUBSCRIBE, session, channel)
        if c is None:
            return False
        session.channels.add(_text(c))
        return True

    def unsubscribe(self, session, channel):
        c = self._channel_command(UNSUBSCRIBE, session, channel)
        if c is None:
            return False
        session.channels.discard(_text(c))
        return True

    def publish_record(self, channel, data, binary=False):
        """One PUBLISH on this link (server.publish() picks the links)."""
        c = _channel(channel)
        body = _u16.pack(len(c)) + c + _payload(data, binary)
        self._check_size(body)
        return self._write(encode(PUBLISH, F_BINARY if binary else 0, body))

    def broadcast_record(self, data, binary=False):
        body = _payload(data, binary)
        self._check_size(body)
        return self._write(encode(BROADCAST, F_BINARY if binary else 0,
                                  body))

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
            self._call("on_pong", self, _u64.unpack(body)[0])
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
        elif rtype == REFUSED:
            self._on_refused(body)
        elif rtype == DROPPED:
            self._on_dropped(body)

    def _on_hello(self, body):
        version, caps, max_record = struct.unpack_from(">HII", body, 0)
        fields = decode_fields(body, 10)
        if version < 1:
            raise ProtocolError(E_VERSION, "version %d" % version)
        self.version = min(version, VERSION)
        self.gateway_capabilities = caps
        self.capabilities = caps & self.server.capabilities
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
        """The session an event names; None for one that has moved to
        another link (an event that was on its way)."""
        (sid,) = _u64.unpack_from(body, 0)
        s = self.sessions.get(sid)
        if s is None:
            if sid in self.moved:
                debug("%s: %s for %016x, moved to another link"
                      % (self, what, sid))
                return None
            raise ProtocolError(E_MALFORMED, "%s for session %016x that is "
                                "not open on this link" % (what, sid))
        return s

    def _on_open(self, flags, body):
        (sid,) = _u64.unpack_from(body, 0)
        if sid == 0:
            raise ProtocolError(E_MALFORMED, "OPEN of session 0")
        if flags & F_REANNOUNCE:
            if not self.gateway_capabilities & CAP_CHANNELS:
                raise ProtocolError(E_NOT_NOW, "REANNOUNCE without CHANNELS")
            if flags & F_APPROVE:
                raise ProtocolError(E_MALFORMED, "OPEN with REANNOUNCE and "
                                    "APPROVE")
            return self._on_reannounce(sid, body)
        if sid in self.sessions:
            raise ProtocolError(E_MALFORMED, "second OPEN of session %016x"
                                % sid)
        s = Session(self, sid)
        self._open_fields(s, body)
        self.rejected.pop(sid, None)
        self.moved.discard(sid)
        self.sessions[sid] = s
        if self.channels:
            self.server.register(s)
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

    def _open_fields(self, s, body):
        """Sets the session's fields from the OPEN; returns the
        re-announce fields (channels, dropped, unsent, unconfirmed)."""
        channels = []
        counts = {OF_DROPPED: 0, OF_UNSENT: 0, OF_UNCONFIRMED: 0}
        params = {}
        s.subprotocol = None
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
                params[_text(value[1:1 + k])] = _text(value[1 + k:])
            elif ftype == OF_CHANNEL:
                if not 1 <= len(value) <= MAX_CHANNEL:
                    raise ProtocolError(E_MALFORMED, "CHANNEL field of %d "
                                        "bytes" % len(value))
                channels.append(_text(value))
            elif ftype in counts:
                if len(value) != 4:
                    raise ProtocolError(E_MALFORMED, "OPEN field 0x%02x of "
                                        "%d bytes" % (ftype, len(value)))
                (counts[ftype],) = _u32.unpack(value)
            # unknown fields: skipped
        s.params = params
        return (channels, counts[OF_DROPPED], counts[OF_UNSENT],
                counts[OF_UNCONFIRMED])

    def _on_reannounce(self, sid, body):
        s = self.server.known.get((self.group, sid))
        known = s is not None
        if known:
            old = s.link
            if old is not None and old is not self:
                old.sessions.pop(sid, None)
                old.moved.add(sid)
            self.server.attach(s)
        else:
            s = self.sessions.get(sid) or Session(self, sid)
        s.link = self
        s.state = "open"
        channels, dropped, unsent, unconfirmed = self._open_fields(s, body)
        s.channels = set(channels)
        s.dropped += dropped
        s.unsent = unsent
        s.unconfirmed = unconfirmed
        s.reannounced += 1
        self.moved.discard(sid)
        self.rejected.pop(sid, None)
        self.sessions[sid] = s
        self.server.register(s)
        debug("%s: re-announced %016x known=%s channels=%r dropped=%d "
              "unsent=%d unconfirmed=%d" % (self, sid, known, channels,
                                            dropped, unsent, unconfirmed))
        if getattr(self.service, "on_reannounce", None) is not None:
            self._call("on_reannounce", s, Reannounce(
                known, channels, dropped, unsent, unconfirmed))
        elif not known:
            self._call("on_open", s)

    def _on_refused(self, body):
        s = self._session(body, "REFUSED")
        if s is None:
            return
        command, code = body[8], body[9]
        if code == REFUSED_OFF:
            s.channels.clear()
        self._call("on_refused", s, command, code)

    def _on_dropped(self, body):
        s = self._session(body, "DROPPED")
        if s is None:
            return
        (count,) = _u32.unpack_from(body, 8)
        s.dropped += count
        self._call("on_dropped", s, count)

    def _on_message(self, flags, body):
        s = self._session(body, "MESSAGE")
        if s is None:
            return
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
        code, by = struct.unpack_from(">HB", body, 8)
        if by > BY_BACKEND:
            raise ProtocolError(E_MALFORMED, "CLOSE by %d" % by)
        reason = _utf8(body[11:], "CLOSE reason")
        s = self._session(body, "CLOSE")
        if s is None:
            return
        del self.sessions[sid]
        s.state = "closed"
        self.server.forget(s)
        self._call("on_close", s, code, by, reason)

    def _teardown(self):
        """The link is gone: so is every session it carried (5.4)."""
        sessions = list(self.sessions.values())
        self.sessions.clear()
        self.server.links.discard(self)
        self.server.dirty.discard(self)
        for s in sessions:
            if self.channels and s.state == "open":
                # the gateway moves it to another link (section 7)
                self.server.detach(s)
                self._call("on_detach", s)
                continue
            s.state = "closed"
            s.lost = True
            self.server.forget(s)
            self._call("on_close", s, 1011, BY_GATEWAY, "link lost")
        if self.hello_done:
            self._call("on_link_close", self)


class Server:
    def __init__(self, service, name=None, max_record=DEFAULT_MAX_RECORD,
                 software=SOFTWARE, channels=True,
                 detach_timeout=DETACH_TIMEOUT):
        if max_record < MIN_MAX_RECORD:
            raise ValueError("max_record must be at least %d"
                             % MIN_MAX_RECORD)
        self.service = service
        self.name = name
        self.software = software
        self.max_record = max_record
        # the capabilities we use when the gateway offers them
        self.capabilities = CAP_CHANNELS if channels else 0
        self.detach_timeout = detach_timeout
        self.links = set()
        self.dirty = set()
        self.tasks = set()
        # sessions of CHANNELS links, by (link group, id): found again
        # when the gateway re-announces them on another link
        self.known = {}
        self.publishers = {}    # link group -> the link publishes go on

    # --- sessions across links

    def register(self, s):
        s.key = (s.link.group, s.id)
        self.known[s.key] = s

    def forget(self, s):
        if s.key is not None and self.known.get(s.key) is s:
            del self.known[s.key]
        if s._detach_timer is not None:
            s._detach_timer.cancel()
            s._detach_timer = None

    def detach(self, s):
        s.state = "detached"
        s.link = None
        if s._detach_timer is not None:
            s._detach_timer.cancel()
        s._detach_timer = asyncio.get_running_loop().call_later(
            self.detach_timeout, self._detach_expired, s)

    def attach(self, s):
        if s._detach_timer is not None:
            s._detach_timer.cancel()
            s._detach_timer = None

    def _detach_expired(self, s):
        s._detach_timer = None
        if s.state != "detached":
            return
        s.state = "closed"
        s.lost = True
        self.forget(s)
        fn = getattr(self.service, "on_close", None)
        if fn is not None:
            try:
                fn(s, 1006, BY_GATEWAY, "link lost")
            except Exception:
                log("on_close raised:")
                traceback.print_exc()

    def sessions(self):
        """Every session of this process (detached ones too)."""
        out = {}
        for link in self.links:
            for s in link.sessions.values():
                out[id(s)] = s
        for s in self.known.values():
            out[id(s)] = s
        return list(out.values())

    # --- fan-out

    def groups(self):
        """{link group: [ready CHANNELS links]}: one group per gateway
        worker (HELLO NAME and WORKER pid)."""
        groups = {}
        for link in self.links:
            if link.ready and link.channels:
                groups.setdefault(link.group, []).append(link)
        return groups

    def _fanout_links(self, via):
        if isinstance(via, Session):
            via = via.link
        out = []
        for group, links in self.groups().items():
            if via is not None and via in links:
                out.append(via)
                continue
            link = self.publishers.get(group)
            if link is None or link not in links:
                link = min(links, key=lambda k: (
                    k.index if k.index is not None else 0, id(k)))
                self.publishers[group] = link
            out.append(link)
        for group in list(self.publishers):
            if self.publishers[group].closed:
                del self.publishers[group]
        return out

    def publish(self, channel, data, binary=False, via=None):
        """PUBLISH on one link per gateway worker; the number of links."""
        c = _channel(channel)
        data = _payload(data, binary)
        n = 0
        for link in self._fanout_links(via):
            if link.publish_record(c, data, binary):
                n += 1
        return n

    def broadcast(self, data, binary=False, via=None):
        """BROADCAST on one link per gateway worker; the number of links."""
        data = _payload(data, binary)
        n = 0
        for link in self._fanout_links(via):
            if link.broadcast_record(data, binary):
                n += 1
        return n

    async def flush(self):
        """Write what every link has queued, and wait until it is taken."""
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
    fn = getattr(service, "on_start", None)
    if fn is not None:
        fn(server)
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
