#!/usr/bin/env python3
"""Chat backend with rooms, kept by the backend itself (no channels).

    python3 scripts/backend/chat.py 127.0.0.1:7001

The room is the URI query's room=NAME (default "lobby"); the user name
the OPEN's PARAM "user", else "anon-N".  A room's members may be on any
link of any gateway worker: each is sent to through its own link.

In, JSON text {"text": "..."} or plain text.  Out, JSON text:
    {"type":"welcome","room":R,"user":U,"members":[...]}  to the joiner
    {"type":"join","room":R,"user":U}                   to the others
    {"type":"message","room":R,"from":U,"text":T}       to every member
    {"type":"leave","room":R,"user":U}                  to the others
A text over 64 KiB closes the session with 1009; a binary message with
1003; a bad room name is refused (REJECT 400 with approval, else CLOSE
1008).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gwlink  # noqa: E402

MAX_TEXT = 64 * 1024
ROOM_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")


class Chat:
    def __init__(self):
        self.rooms = {}         # name -> {session: user}, in join order
        self.anon = 0

    def _room_of(self, session):
        room = session.query.get("room", "") or "lobby"
        return room if ROOM_RE.match(room) else None

    def _emit(self, members, obj, skip=None):
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        for s in members:
            if s is not skip:
                s.send(text)

    def on_approve(self, session):
        if self._room_of(session) is None:
            return (400, "bad room name")
        return True

    def on_open(self, session):
        room = self._room_of(session)
        if room is None:
            session.close(1008, "bad room name")
            return
        user = session.params.get("user")
        if not user:
            self.anon += 1
            user = "anon-%d" % self.anon
        members = self.rooms.setdefault(room, {})
        members[session] = user
        session.data["room"] = room
        session.data["user"] = user
        self._emit([session], {"type": "welcome", "room": room,
                               "user": user,
                               "members": list(members.values())})
        self._emit(members, {"type": "join", "room": room, "user": user},
                   skip=session)

    def on_message(self, session, data, binary):
        room = session.data.get("room")
        if room is None:
            return
        if binary:
            session.close(1003, "text only")
            return
        if len(data) > MAX_TEXT or len(data.encode("utf-8")) > MAX_TEXT:
            session.close(1009, "message too big")
            return
        text = data
        try:
            obj = json.loads(data)
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                text = obj["text"]
        except ValueError:
            pass
        self._emit(self.rooms[room], {"type": "message", "room": room,
                                      "from": session.data["user"],
                                      "text": text})

    def on_close(self, session, code, by, reason):
        room = session.data.pop("room", None)
        if room is None:
            return
        members = self.rooms[room]
        user = members.pop(session, None)
        if not members:
            del self.rooms[room]
            return
        self._emit(members, {"type": "leave", "room": room, "user": user})


if __name__ == "__main__":
    gwlink.serve(Chat(), gwlink.main_args(sys.argv, "chat.py"), name="chat")
