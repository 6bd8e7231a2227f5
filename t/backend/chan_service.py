#!/usr/bin/env python3
"""A gwlink service for t/backend/test_channels.py: it does what its
sessions' text messages say, and prints every callback of the library
as one JSON line on stdout (after gwlink's "listening" line).

    chan_service.py HOST:PORT [DETACH_TIMEOUT]

Messages: "sub C", "unsub C", "pub C TEXT", "pubvia C TEXT" (via the
session's link), "pubbin C HEX", "bcast TEXT", "bcastbin HEX",
"echo TEXT" (SEND back).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts", "backend"))

import gwlink  # noqa: E402


def out(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


class Service:
    server = None

    def on_start(self, server):
        self.server = server

    def on_open(self, s):
        out(ev="open", sid=s.id, uri=s.uri)

    def on_message(self, s, data, binary):
        if binary:
            return
        cmd, _, rest = data.partition(" ")
        n = None
        if cmd == "sub":
            n = s.subscribe(rest)
        elif cmd == "unsub":
            n = s.unsubscribe(rest)
        elif cmd == "pub":
            c, _, t = rest.partition(" ")
            n = self.server.publish(c, t)
        elif cmd == "pubvia":
            c, _, t = rest.partition(" ")
            n = self.server.publish(c, t, via=s)
        elif cmd == "pubbin":
            c, _, t = rest.partition(" ")
            n = self.server.publish(c, bytes.fromhex(t), binary=True)
        elif cmd == "bcast":
            n = self.server.broadcast(rest)
        elif cmd == "bcastbin":
            n = self.server.broadcast(bytes.fromhex(rest), binary=True)
        elif cmd == "echo":
            n = s.send(rest)
        out(ev="did", sid=s.id, cmd=cmd, result=n,
            channels=sorted(s.channels))

    def on_close(self, s, code, by, reason):
        out(ev="close", sid=s.id, code=code, by=by, reason=reason,
            lost=s.lost)

    def on_refused(self, s, command, code):
        out(ev="refused", sid=s.id, command=command, code=code,
            channels=sorted(s.channels))

    def on_dropped(self, s, count):
        out(ev="dropped", sid=s.id, count=count, total=s.dropped)

    def on_reannounce(self, s, info):
        out(ev="reannounce", sid=s.id, known=info.known,
            channels=info.channels, dropped=info.dropped,
            unsent=info.unsent, unconfirmed=info.unconfirmed,
            total_dropped=s.dropped, times=s.reannounced, uri=s.uri,
            params=s.params, link=s.link.index,
            session_channels=sorted(s.channels))

    def on_detach(self, s):
        out(ev="detach", sid=s.id, state=s.state)


if __name__ == "__main__":
    kw = {}
    if len(sys.argv) > 2:
        kw["detach_timeout"] = float(sys.argv[2])
    gwlink.serve(Service(), sys.argv[1], name="chan", **kw)
