#!/usr/bin/env python3
#
# h-review10: a graceful shutdown (nginx -s quit) with a handshake waiting
# for its backend's verdict (ws_gateway_link_approve on).  The worker
# must be gone within ws_gateway_close_timeout (1s here) plus a margin,
# and the waiting client must get an answer (a 503, as any handshake on an
# exiting worker) rather than wait for ws_gateway_link_approve_timeout
# (30s here).  Failed against main (f54b0bf): the worker stays until the
# approval times out.
#
#   t/flood/approval_shutdown.py [MODULE.so]
#
# Starts its own NGINX (the system binary, or $NGINX_BINARY) on 127.0.0.1:3989
# ($APPROVAL_PORT; the backend on the next port),
# and a link backend that answers HELLO and PING and
# never gives a verdict; everything it starts is stopped within 20 s.
# Prints "approval_shutdown: ok" or "approval_shutdown: FAIL ..." and exits
# 0 or 1.

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODULE = os.path.abspath(
    sys.argv[1] if len(sys.argv) > 1
    else os.path.join(TOP, 'build/debian/objs/ngx_ws_gateway_module.so'))
NGINX = os.environ.get('NGINX_BINARY', '/usr/sbin/nginx')
PORT = int(os.environ.get('APPROVAL_PORT', '3989'))
LINK_PORT = PORT + 1
MARGIN = 3.0

CONF = '''
load_module %(module)s;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    upstream backend { server 127.0.0.1:%(link)d; ws_gateway_links 1; }
    server {
        listen 127.0.0.1:%(port)d;
        location /approve {
            ws_gateway_pass backend;
            ws_gateway_link_approve on;
            ws_gateway_link_approve_timeout 30s;
            ws_gateway_close_timeout 1s;
        }
    }
}
'''

HANDSHAKE = (b'GET /approve HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
             b'Connection: Upgrade\r\n'
             b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
             b'Sec-WebSocket-Version: 13\r\n\r\n')

opened = threading.Event()


def serve(c):
    buf, hello = b'', False
    c.settimeout(20)
    try:
        while True:
            d = c.recv(65536)
            if not d:
                return
            buf += d
            while len(buf) >= 4:
                n = struct.unpack('>I', buf[:4])[0]
                if len(buf) < 4 + n:
                    break
                rec, buf = buf[4:4 + n], buf[4 + n:]
                if rec[0] == 0x01 and not hello:
                    hello = True
                    body = struct.pack('>HII', 1, 0, 1 << 20)
                    c.sendall(struct.pack('>IBB', len(body) + 2, 1, 0) + body)
                elif rec[0] == 0x02:
                    c.sendall(struct.pack('>IBB', 10, 3, 0) + rec[2:10])
                elif rec[0] == 0x10:
                    opened.set()
    except OSError:
        return


def backend(srv):
    srv.settimeout(0.5)
    end = time.time() + 20
    while time.time() < end:
        try:
            c, _ = srv.accept()
        except OSError:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main():
    d = tempfile.mkdtemp(prefix='h10-approval-shutdown.')
    with open(os.path.join(d, 'nginx.conf'), 'w') as f:
        f.write(CONF % {'module': MODULE, 'dir': d, 'port': PORT,
                        'link': LINK_PORT})

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', LINK_PORT))
    srv.listen(8)
    threading.Thread(target=backend, args=(srv,), daemon=True).start()

    subprocess.run([NGINX, '-p', d, '-c', os.path.join(d, 'nginx.conf'),
                    '-e', os.path.join(d, 'error.log')], check=True,
                   timeout=5)
    pid = None
    try:
        for _ in range(50):
            try:
                pid = int(open(os.path.join(d, 'nginx.pid')).read())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        time.sleep(0.5)                 # the link is up

        s = socket.create_connection(('127.0.0.1', PORT), timeout=3)
        s.sendall(HANDSHAKE)
        if not opened.wait(3):
            print('approval_shutdown: FAIL no OPEN reached the backend')
            return 1

        t0 = time.time()
        os.kill(pid, signal.SIGQUIT)

        s.settimeout(1.0 + MARGIN)
        try:
            answer = s.recv(4096).split(b'\r\n', 1)[0]
        except socket.timeout:
            answer = b'(nothing)'
        t_answer = time.time() - t0

        gone = None
        while time.time() - t0 < 1.0 + MARGIN:
            try:
                os.kill(pid, 0)
            except OSError:
                gone = time.time() - t0
                break
            time.sleep(0.05)

        fails = []
        if not answer.startswith(b'HTTP/1.1 503'):
            fails.append('the waiting client got %r after %.1fs'
                         % (answer, t_answer))
        if gone is None:
            fails.append('nginx still runs %.1fs after the quit'
                         % (1.0 + MARGIN))
        if fails:
            print('approval_shutdown: FAIL ' + '; '.join(fails))
            return 1

        print('approval_shutdown: ok (503 after %.1fs, gone after %.1fs)'
              % (t_answer, gone))
        return 0

    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        srv.close()


if __name__ == '__main__':
    sys.exit(main())
