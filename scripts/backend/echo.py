#!/usr/bin/env python3
"""Echo backend: every MESSAGE goes back to its session as a SEND, text
as text and binary as binary.

    python3 scripts/backend/echo.py 127.0.0.1:7000
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gwlink  # noqa: E402


class Echo:
    def on_message(self, session, data, binary):
        session.send(data, binary)


if __name__ == "__main__":
    gwlink.serve(Echo(), gwlink.main_args(sys.argv, "echo.py"), name="echo")
