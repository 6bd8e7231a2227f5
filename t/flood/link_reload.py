#!/usr/bin/env python3
#
# Reloads that change the worker count, with backend links: NGINX with the
# module relaying to build/backend/echo-backend over ws_gateway_links 2,
# reloaded from 2 workers to 4, to 64, to 1.  After each reload, once the
# old workers are gone, the backend must hold exactly workers x 2 links,
# and a session must echo through them; the error log must hold no
# [alert], [crit] or [emerg].
#
#   t/flood/link_reload.py [MODULE.so]
#
# NGINX is the system binary, or $NGINX_BINARY; it listens on
# 127.0.0.1:$LINK_RELOAD_PORT (3970 by default), the backend on the next
# port.  Everything it starts is stopped within 60 s.  Prints
# "link_reload: ok ..." or "link_reload: FAIL ..." and exits 0 or 1.

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import websockets

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODULE = os.path.abspath(
    sys.argv[1] if len(sys.argv) > 1
    else os.path.join(TOP, "build/debian/objs/ngx_ws_gateway_module.so"))
NGINX = os.environ.get("NGINX_BINARY", "/usr/sbin/nginx")
BACKEND = os.path.join(TOP, "build/backend/echo-backend")
PORT = int(os.environ.get("LINK_RELOAD_PORT", "3970"))
BACKEND_PORT = PORT + 1
LINKS = 2

CONF = """
load_module %(module)s;
worker_processes %(workers)d;
error_log %(dir)s/error.log info;
pid %(dir)s/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    upstream backend {
        server 127.0.0.1:%(bport)d;
        ws_gateway_links %(links)d;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location /ws { ws_gateway_pass backend; }
    }
}
"""


def write_conf(d, workers):
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(CONF % {"module": MODULE, "workers": workers, "dir": d,
                        "bport": BACKEND_PORT, "port": PORT,
                        "links": LINKS})


def links_to_backend():
    out = subprocess.run(
        ["ss", "-Htn", "state", "established",
         "( dport = :%d )" % BACKEND_PORT],
        capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def workers_of(master):
    out = subprocess.run(["pgrep", "-P", str(master)],
                         capture_output=True, text=True).stdout
    return len(out.split())


async def echo_once(tag):
    async with websockets.connect("ws://127.0.0.1:%d/ws" % PORT,
                                  open_timeout=5, close_timeout=2) as ws:
        await ws.send(tag)
        got = await asyncio.wait_for(ws.recv(), 5)
        return got == tag


def wait_for(cond, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def main():
    d = tempfile.mkdtemp(prefix="link-reload-")
    backend = nginx = None
    fails = []
    done = []

    try:
        backend = subprocess.Popen(
            ["timeout", "60", BACKEND, "127.0.0.1:%d" % BACKEND_PORT],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if "listening" not in backend.stdout.readline():
            print("link_reload: FAIL the backend did not start")
            return 1

        write_conf(d, 2)
        nginx = subprocess.Popen(
            ["timeout", "60", NGINX, "-p", d, "-c",
             os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.DEVNULL)

        master = None
        for workers in (2, 4, 64, 1):
            if master is None:
                if not wait_for(lambda: os.path.exists(
                        os.path.join(d, "nginx.pid")), 5):
                    fails.append("NGINX did not start")
                    break
                time.sleep(0.2)
                master = int(open(os.path.join(d, "nginx.pid")).read())
            else:
                write_conf(d, workers)
                os.kill(master, signal.SIGHUP)

            want = workers * LINKS

            if not wait_for(lambda: workers_of(master) == workers
                            and links_to_backend() == want, 15):
                fails.append("%d workers: %d workers, %d links, want %d"
                             % (workers, workers_of(master),
                                links_to_backend(), want))
                continue

            if not asyncio.run(echo_once("after %d" % workers)):
                fails.append("%d workers: no echo" % workers)
                continue

            done.append("%d workers %d links" % (workers, want))

        with open(os.path.join(d, "error.log")) as f:
            bad = [line for line in f
                   if re.search(r"\[(alert|crit|emerg)\]", line)]
        if bad:
            fails.append("error log: " + bad[0].strip())

    finally:
        for p in (nginx, backend):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        pidf = os.path.join(d, "nginx.pid")
        if os.path.exists(pidf):
            try:
                os.kill(int(open(pidf).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(d, ignore_errors=True)

    if fails:
        print("link_reload: FAIL " + "; ".join(fails))
        return 1

    print("link_reload: ok (" + ", ".join(done) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
