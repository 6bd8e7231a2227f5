#!/usr/bin/env python3
"""Chat backend with rooms.

    python3 scripts/backend/chat.py 127.0.0.1:7001

The room is the URI query's room=NAME (default "lobby"); the user name
the OPEN's PARAM "user", else "anon-N".  A room's members may be on any
link of any gateway worker.  The text "/join NAME" moves the session to
room NAME (a leave in the old room, a welcome and a join in the new).

With a gateway that announces CHANNELS, room R is the channel "room:R":
the backend SUBSCRIBEs each member, and what goes to the whole room is
one PUBLISH per gateway worker (on the sender's own link for its worker,
so that a joiner does not get its own join and a member's messages stay
in the order it sent them).  A session re-announced after a lost link
keeps its room (from its CHANNEL field) and gets no second welcome.
Without CHANNELS, the backend sends to each member through its own link.

In, JSON text {"text": "..."} or plain text.  Out, JSON text:
    {"type":"welcome","room":R,"user":U,"members":[...]}  to the joiner
    {"type":"join","room":R,"user":U}                   to the others
    {"type":"message","room":R,"from":U,"text":T}       to every member
    {"type":"leave","room":R,"user":U}                  to the others
    {"type":"error","text":T}                           to the sender
A text over 64 KiB closes the session with 1009; a binary message with
1003; a bad room name is refused (REJECT 400 with approval, else CLOSE
1008); a bad room name in /join gets an error.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gwlink  # noqa: E402

MAX_TEXT = 64 * 1024
ROOM_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
PREFIX = "room:"


def _json(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Chat:
    def __init__(self):
        self.rooms = {}         # name -> {session: user}, in join order
        self.anon = 0
        self.server = None

    def on_start(self, server):
        self.server = server

    def _room_of(self, session):
        room = session.query.get("room", "") or "lobby"
        return room if ROOM_RE.match(room) else None

    def _user_of(self, session):
        user = session.params.get("user")
        if not user:
            self.anon += 1
            user = "anon-%d" % self.anon
        return user

    def _emit(self, room, obj, via, skip=None):
        """To the room: a PUBLISH (via the session's link) with
        CHANNELS, else a SEND to each member but `skip`."""
        text = _json(obj)
        link = via.link if via is not None else None
        if (link.channels if link is not None
                else bool(self.server.groups())):
            self.server.publish(PREFIX + room, text, via=via)
            return
        for s in self.rooms.get(room, {}):
            if s is not skip:
                s.send(text)

    def _join(self, session, room):
        user = session.data["user"]
        members = self.rooms.setdefault(room, {})
        members[session] = user
        session.data["room"] = room
        session.send(_json({"type": "welcome", "room": room, "user": user,
                            "members": list(members.values())}))
        # published before the SUBSCRIBE, on the same link: the joiner is
        # not among its receivers
        self._emit(room, {"type": "join", "room": room, "user": user},
                   session, skip=session)
        if session.link.channels:
            session.subscribe(PREFIX + room)

    def _leave(self, session):
        room = session.data.pop("room", None)
        if room is None:
            return
        members = self.rooms.get(room, {})
        user = members.pop(session, None)
        if session.link is not None and session.link.channels \
                and session.state == "open":
            session.unsubscribe(PREFIX + room)
        if not members:
            self.rooms.pop(room, None)
            return
        self._emit(room, {"type": "leave", "room": room, "user": user},
                   session)

    def on_approve(self, session):
        if self._room_of(session) is None:
            return (400, "bad room name")
        return True

    def on_open(self, session):
        room = self._room_of(session)
        if room is None:
            session.close(1008, "bad room name")
            return
        session.data["user"] = self._user_of(session)
        self._join(session, room)

    def on_reannounce(self, session, info):
        if info.known:
            return              # the same session, on another link
        # the backend restarted: the room from the session's channel
        room = None
        for c in info.channels:
            if c.startswith(PREFIX) and ROOM_RE.match(c[len(PREFIX):]):
                room = c[len(PREFIX):]
        if room is None:
            room = self._room_of(session)
        if room is None:
            session.close(1008, "bad room name")
            return
        session.data["user"] = self._user_of(session)
        session.data["room"] = room
        self.rooms.setdefault(room, {})[session] = session.data["user"]
        if PREFIX + room not in session.channels:
            session.subscribe(PREFIX + room)

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
        if data.startswith("/join "):
            new = data[len("/join "):].strip()
            if not ROOM_RE.match(new):
                session.send(_json({"type": "error",
                                    "text": "bad room name"}))
                return
            if new != room:
                self._leave(session)
                self._join(session, new)
            return
        text = data
        try:
            obj = json.loads(data)
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                text = obj["text"]
        except ValueError:
            pass
        self._emit(room, {"type": "message", "room": room,
                          "from": session.data["user"], "text": text},
                   session)

    def on_close(self, session, code, by, reason):
        self._leave(session)


if __name__ == "__main__":
    gwlink.serve(Chat(), gwlink.main_args(sys.argv, "chat.py"), name="chat")
