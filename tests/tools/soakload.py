#!/usr/bin/env python3
"""soakload.py: mixed, bounded load through mcxproxy for the soak test.

Threads loop until --seconds have passed, each picking a client kind at
random (seeded, so a run can be repeated):

    keepalive   10 GETs of 1 KiB on one TLS connection
    fresh       one GET on a new connection
    post        a 64 KiB POST (/upload), checks the body digest the origin saw
    abort-head  half a request head, then close
    abort-body  a head announcing 100 KiB, 10 KiB of it, then close
    abort-read  a 1 MiB GET, reads 64 KiB, then close
    fault       a request to the failing upstream (faulty.py): a cut or reset
                body, a reset before the response, or a malformed head

Well-behaved kinds must succeed (200, right body); aborting kinds must not
break anything; fault kinds must end in a 502/504 or a visibly cut
response, never a complete-looking one.  Prints one line of counts and
exits 1 when any unexpected outcome happened (each is printed).
"""

import argparse
import hashlib
import random
import socket
import ssl
import sys
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--cafile", required=True)
ap.add_argument("--seconds", type=float, default=60)
ap.add_argument("--threads", type=int, default=8)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

ctx = ssl.create_default_context(cafile=a.cafile)
GMS = "gms.mcx.own.example"
FAULTY = "f.mcx.own.example"
lock = threading.Lock()
counts = {}
errors = []


def count(kind, outcome):
    with lock:
        counts["%s:%s" % (kind, outcome)] = counts.get("%s:%s" % (kind, outcome), 0) + 1


def bad(kind, what):
    with lock:
        errors.append("%s: %s" % (kind, what))
        if len(errors) <= 20:
            print("UNEXPECTED %s: %s" % (kind, what), file=sys.stderr)


def connect():
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    return ctx.wrap_socket(s, server_hostname=GMS)


class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self):
        """(status, body); raises EOFError on a cut response."""
        status = int(self.line().split(b" ")[1])
        length, chunked = None, False
        while True:
            h = self.line()
            if not h:
                break
            k, _, v = h.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if chunked:
            body = b""
            while True:
                n = int(self.line().split(b";")[0], 16)
                if n == 0:
                    while self.line():
                        pass
                    return status, body
                body += self.take(n)
                self.take(2)
        return status, self.take(length or 0)


def get(r, s, host, path, close=False):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" %
              (path.encode(), host.encode(), b"Connection: close\r\n" if close else b""))
    return r.response()


def keepalive():
    s = connect()
    r = Reader(s)
    for _ in range(10):
        st, body = get(r, s, GMS, "/bytes?n=1024")
        if st != 200 or len(body) != 1024:
            bad("keepalive", "status %d, %d bytes" % (st, len(body)))
            break
    s.close()
    count("keepalive", "ok")


def fresh():
    s = connect()
    st, body = get(Reader(s), s, GMS, "/bytes?n=512", close=True)
    s.close()
    if st != 200 or len(body) != 512:
        bad("fresh", "status %d, %d bytes" % (st, len(body)))
    count("fresh", "ok")


def post():
    data = random.randbytes(65536)
    s = connect()
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
              % (GMS.encode(), len(data)) + data)
    st, body = Reader(s).response()
    s.close()
    want = "bytes=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest())
    if st != 200 or want not in body.decode(errors="replace"):
        bad("post", "status %d body %r" % (st, body[:80]))
    count("post", "ok")


def abort_head():
    s = connect()
    s.sendall(b"GET /bytes?n=10 HTTP/1.1\r\nHost: gms.mc")
    s.close()
    count("abort-head", "ok")


def abort_body():
    s = connect()
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 102400\r\n\r\n"
              % GMS.encode() + b"z" * 10240)
    s.close()
    count("abort-body", "ok")


def abort_read():
    s = connect()
    r = Reader(s)
    s.sendall(b"GET /bytes?n=1048576 HTTP/1.1\r\nHost: %s\r\n\r\n" % GMS.encode())
    while len(r.buf) < 65536:
        r.fill()
    s.close()
    count("abort-read", "ok")


def fault():
    path = random.choice(["/reset-mid", "/cut-sized", "/cut-chunked",
                          "/reset-before", "/malformed"])
    s = connect()
    try:
        st, body = get(Reader(s), s, FAULTY, path)
        if st not in (502, 504):
            bad("fault", "%s answered %d with a complete-looking body" % (path, st))
        count("fault", str(st))
    except (EOFError, ConnectionError, ssl.SSLError):
        count("fault", "cut")
    s.close()


KINDS = [(keepalive, 4), (fresh, 3), (post, 2), (abort_head, 1),
         (abort_body, 1), (abort_read, 1), (fault, 1)]


def worker(seed, end):
    rnd = random.Random(seed)
    funcs = [f for f, w in KINDS for _ in range(w)]
    while time.monotonic() < end:
        f = rnd.choice(funcs)
        try:
            f()
        except (OSError, EOFError, ValueError, IndexError) as e:
            bad(f.__name__, repr(e))


end = time.monotonic() + a.seconds
random.seed(a.seed)
ts = [threading.Thread(target=worker, args=(a.seed * 1000 + i, end))
      for i in range(a.threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("counts: " + " ".join("%s=%d" % kv for kv in sorted(counts.items())) +
      " unexpected=%d" % len(errors))
sys.exit(1 if errors else 0)
