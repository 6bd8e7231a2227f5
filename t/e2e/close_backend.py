#!/usr/bin/python3
"""A test backend for t/e2e: echo, and a record of every CLOSE event.

    /usr/bin/python3 t/e2e/close_backend.py 127.0.0.1:2290 closes.jsonl

Built on scripts/backend/gwlink.py.  Every message is echoed, text as
text and binary as binary, except the text "kick CODE REASON": the
backend then closes the session with that code and reason (a CLOSE
command).  Every CLOSE event (and every session lost with its link) is
appended to the record file as one JSON line, written and flushed before
the next record is read:

    {"uri": "/closes?id=X", "code": 4001, "by": 0, "reason": "bye"}

"by" is the protocol's: 0 the client, 1 the gateway, 2 the backend.
The clients find their session's line by the id in its URI.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts", "backend"))

import gwlink  # noqa: E402


class Closes:
    def __init__(self, path):
        self.out = open(path, "a", encoding="utf-8")

    def on_message(self, session, data, binary):
        if not binary and data.startswith("kick "):
            _, code, reason = (data + " ").split(" ", 2)
            session.close(int(code), reason.rstrip(" "))
            return
        session.send(data, binary)

    def on_close(self, session, code, by, reason):
        self.out.write(json.dumps({"uri": session.uri, "code": code,
                                   "by": by, "reason": reason,
                                   "lost": session.lost}) + "\n")
        self.out.flush()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: close_backend.py HOST:PORT RECORD-FILE",
              file=sys.stderr)
        sys.exit(2)
    gwlink.serve(Closes(sys.argv[2]), sys.argv[1], name="e2e-closes")
