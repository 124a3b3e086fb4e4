#!/usr/bin/env python3
"""recorder.py: an upstream that writes down exactly what it receives.

For the differential test: each request's head (raw bytes) and body are
saved as DIR/<tag>.<n>.head and DIR/<tag>.<n>.body, where <tag> is the
"case-NAME" segment of the request target (or "other") and n counts
requests with that tag.  Sized and chunked bodies are read (chunked ones
are saved decoded, trailers kept in DIR/<tag>.<n>.trailers).  Every
request gets "200 ok" and the connection stays open.  With --raw FILE,
every byte received on any connection is also appended to FILE as it
arrives, whether or not it ever makes a request (for tests that count
what reached the upstream).

Usage: recorder.py --ready-file F --dir DIR [--listen 127.0.0.1:0] [--raw FILE]
"""

import argparse
import os
import re
import threading

from tcpserver import serve_forever

lock = threading.Lock()
seq = {}
raw_path = None


class Conn:
    def __init__(self, s):
        self.s, self.buf = s, b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        if raw_path:
            with lock, open(raw_path, "ab") as f:
                f.write(d)
        self.buf += d

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep)
        d, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return d

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d


def serve(s, out):
    c = Conn(s)
    try:
        while True:
            head = c.until(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            m = re.search(rb"case-([A-Za-z0-9_-]+)", lines[0])
            tag = m.group(1).decode() if m else "other"
            length, chunked = 0, False
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v.strip())
                elif k == b"transfer-encoding" and v.strip().lower().endswith(b"chunked"):
                    chunked = True
            trailers = b""
            if chunked:
                body = b""
                while True:
                    n = int(c.until(b"\r\n").split(b";")[0], 16)
                    if n == 0:
                        while True:
                            t = c.until(b"\r\n")
                            if not t:
                                break
                            trailers += t + b"\r\n"
                        break
                    body += c.take(n)
                    c.take(2)
            else:
                body = c.take(length)
            with lock:
                seq[tag] = seq.get(tag, 0) + 1
                base = os.path.join(out, "%s.%d" % (tag, seq[tag]))
            with open(base + ".head", "wb") as f:
                f.write(head)
            with open(base + ".body", "wb") as f:
                f.write(body)
            if trailers:
                with open(base + ".trailers", "wb") as f:
                    f.write(trailers)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    except (EOFError, OSError, ValueError):
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--raw")
    a = ap.parse_args()
    global raw_path
    raw_path = a.raw
    if raw_path:
        open(raw_path, "wb").close()
    os.makedirs(a.dir, exist_ok=True)
    serve_forever(a.listen, a.ready_file, serve, a.dir)


if __name__ == "__main__":
    main()
