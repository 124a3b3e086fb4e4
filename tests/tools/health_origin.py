#!/usr/bin/env python3
"""health_origin.py: an HTTP/1.1 origin whose health path answers what a
file says, for the active health check tests (89-health-checks).

Usage:
    health_origin.py --name N --ready-file F --log FILE --status-file S
                     [--listen 127.0.0.1:0] [--health-path /health]
                     [--tls CERT KEY]

Every request is logged to --log as one line:
    conn=ID METHOD TARGET host=HOST ua=USER-AGENT
(ID: the connection's number, from 1).  The health path answers the status
in --status-file ("STATUS [DELAY]": the status, after DELAY seconds; 200 when
the file is missing or empty); any other target answers 200 "origin N".
Every response closes its connection, so that each request through the
proxy opens a new one, to the next target in rotation.  One thread per
connection; standard library only.
"""

import argparse
import http.server
import itertools
import os
import ssl
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.conn_id = next(self.server.ids)

    def log_message(self, fmt, *args):
        pass

    def _status(self):
        try:
            with open(self.server.status_file) as f:
                words = f.read().split()
        except OSError:
            words = []
        code = int(words[0]) if words else 200
        delay = float(words[1]) if len(words) > 1 else 0.0
        return code, delay

    def do_GET(self):
        with self.server.log_lock, open(self.server.log, "a") as f:
            f.write("conn=%d %s %s host=%s ua=%s\n" % (
                self.conn_id, self.command, self.path,
                self.headers.get("Host", "-"),
                self.headers.get("User-Agent", "-")))
        if self.path == self.server.health_path:
            code, delay = self._status()
            if delay > 0:
                time.sleep(delay)
        else:
            code = 200
        body = ("origin %s\n" % self.server.name).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--name", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--status-file", required=True)
    ap.add_argument("--health-path", default="/health")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.name = a.name
    srv.log = a.log
    srv.log_lock = threading.Lock()
    srv.status_file = a.status_file
    srv.health_path = a.health_path
    srv.ids = itertools.count(1)
    open(a.log, "a").close()
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.ready_file)
    sys.stderr.write("health origin %s: port %d\n" % (a.name,
                     srv.server_address[1]))
    srv.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
