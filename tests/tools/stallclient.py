#!/usr/bin/env python3
"""stallclient.py: a client that leaves one side of the proxy full, for
tests/integration/59-back-pressure.sh.  Over TLS to the proxy:

  get N        GET /bytes?n=N on --host (default gms.mcx.own.example),
               then reads nothing until --go-file exists; then reads the
               whole response
  post N       POST N body bytes to faulty /hold?s=--hold (an upstream that
               reads nothing meanwhile), then reads the response
  pipeline K   GET faulty /hold?s=--hold, then K pipelined GET /ok in the
               same write

Creates --ready-file once its request is out (get: after the response
head arrived; post: after the first megabyte went).  Prints what it got:
"status <code> bytes <n>" per response (with " body <text>" for bodies
of 64 bytes or less), then "done".  Exits 1 on a
timeout or an unexpected close.
"""
import argparse
import os
import socket
import ssl
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("mode", choices=["get", "post", "pipeline"])
ap.add_argument("n", type=int)
ap.add_argument("--cafile", required=True)
ap.add_argument("--ready-file", required=True)
ap.add_argument("--go-file", help="get: read the response once this exists")
ap.add_argument("--hold", type=float, default=4.0)
ap.add_argument("--host", default="gms.mcx.own.example")
ap.add_argument("--timeout", type=float, default=60.0)
a = ap.parse_args()
deadline = time.monotonic() + a.timeout

ctx = ssl.create_default_context(cafile=a.cafile)
sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout),
                       server_hostname="proxy.mcx.own.example")
buf = bytearray()


def ready():
    with open(a.ready_file + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(a.ready_file + ".tmp", a.ready_file)


def fill():
    if time.monotonic() > deadline:
        sys.exit("timeout")
    d = sock.recv(65536)
    if not d:
        sys.exit("connection closed after %d bytes" % len(buf))
    buf.extend(d)


def head():
    while b"\r\n\r\n" not in buf:
        fill()
    end = buf.index(b"\r\n\r\n") + 4
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    del buf[:end]
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    return int(lines[0].split()[1]), length


def response(on_head=None):
    status, length = head()
    if on_head:
        on_head()
    got = 0
    small = bytearray()
    while got < length:
        if not buf:
            fill()
        take = min(len(buf), length - got)
        if length <= 64:
            small += buf[:take]
        del buf[:take]
        got += take
    print("status %d bytes %d%s" % (status, got, " body " + small.decode("latin-1")
                                      if small else ""), flush=True)


if a.mode == "get":
    sock.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: %s\r\n\r\n"
                 % (a.n, a.host.encode()))

    def wait_go():
        ready()
        while not os.path.exists(a.go_file):
            if time.monotonic() > deadline:
                sys.exit("timeout waiting for " + a.go_file)
            time.sleep(0.05)
    response(wait_go)
elif a.mode == "post":
    sock.sendall(b"POST /hold?s=%g HTTP/1.1\r\nHost: f.mcx.own.example\r\n"
                 b"Content-Length: %d\r\n\r\n" % (a.hold, a.n))
    chunk = b"p" * 65536
    sent = 0
    # The whole body goes before the response is read: the upstream reads
    # it all once its hold ends.
    while sent < a.n:
        part = chunk[:min(len(chunk), a.n - sent)]
        sock.sendall(part)
        sent += len(part)
        if sent >= 1 << 20 and sent - len(part) < 1 << 20:
            ready()
    response()
else:
    reqs = [b"GET /hold?s=%g HTTP/1.1\r\nHost: f.mcx.own.example\r\n\r\n" % a.hold]
    reqs += [b"GET /ok HTTP/1.1\r\nHost: f.mcx.own.example\r\nX-Pad: %s\r\n\r\n"
             % (b"q" * 64)] * a.n
    sock.sendall(b"".join(reqs))
    ready()
    for _ in range(a.n + 1):
        response()
print("done", flush=True)
