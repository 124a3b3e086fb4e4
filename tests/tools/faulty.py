#!/usr/bin/env python3
"""faulty.py: an upstream that fails on purpose, for mcxproxy's tests.

Raw sockets (not http.server) so it can do what a real server never
should: reset, cut a body short, send a broken head.  One thread per
connection; keep-alive for the well-behaved paths.  The path of each
request picks the fault:

    /ok               200, 2-byte body "ok", keep-alive
    /conn             200, "conn=N" (N: this connection's number)
    /reset-before     reads the head, then resets (RST) without answering
    /reset-mid        head (Content-Length 100000) and 1000 body bytes, RST
    /cut-sized        head (Content-Length 100000) and 1000 body bytes, FIN
    /cut-chunked      chunked head, one 1000-byte chunk, FIN (no last chunk)
    /malformed        "HTTP/1.1 2x0 Nope" status line
    /oversized        a head of 200 KiB of fields
    /never            reads the head, never answers (until the client goes)
    /early            answers 413 at once without reading the request body,
                      then closes after a short read
    /hold?s=N         reads nothing for N seconds after the head, then the
                      whole body; answers 200 "got=BYTES", keep-alive

Every request head received is logged to --log ("N METHOD PATH" lines, N
the connection number), flushed at once, so a test can count replays.

Usage: faulty.py --listen 127.0.0.1:0 --ready-file F --log FILE
"""

import argparse
import socket
import struct
import sys
import threading
import time

from tcpserver import serve_forever

lock = threading.Lock()
conn_seq = [0]


def read_head(sock, buf):
    """Returns (head bytes, rest) or (None, buf) on EOF."""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def body_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def reset(sock):
    # SO_LINGER with a zero timeout: close() sends RST, not FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def serve(sock, log):
    with lock:
        conn_seq[0] += 1
        n = conn_seq[0]
    buf = b""
    try:
        while True:
            head, buf = read_head(sock, buf)
            if head is None:
                sock.close()
                return
            method, path = head.split(b" ")[0:2]
            with lock, open(log, "a") as f:
                f.write("%d %s %s\n" % (n, method.decode(), path.decode()))
            path = path.decode()
            if path.startswith("/hold?s="):
                # The proxy must hold the rest of the body meanwhile.
                time.sleep(float(path[len("/hold?s="):]))
                path = "/hold"
            if path == "/early":
                sock.sendall(b"HTTP/1.1 413 Payload Too Large\r\n"
                             b"Content-Length: 9\r\nConnection: close\r\n\r\n"
                             b"too large")
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(2)
                try:
                    while sock.recv(65536):
                        pass
                except OSError:
                    pass
                sock.close()
                return
            need = body_length(head)
            # Counted, not kept: bodies may be large.
            if len(buf) >= need:
                buf, left = buf[need:], 0
            else:
                buf, left = b"", need - len(buf)
            while left > 0:
                d = sock.recv(min(65536, left))
                if not d:
                    sock.close()
                    return
                left -= len(d)
            if path in ("/ok", "/conn", "/hold"):
                body = {"/ok": b"ok", "/conn": b"conn=%d" % n,
                        "/hold": b"got=%d" % need}[path]
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
            elif path == "/reset-before":
                reset(sock)
                return
            elif path in ("/reset-mid", "/cut-sized"):
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                             + b"x" * 1000)
                if path == "/reset-mid":
                    reset(sock)
                else:
                    sock.close()
                return
            elif path == "/cut-chunked":
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3e8\r\n" + b"y" * 1000 + b"\r\n")
                sock.close()
                return
            elif path == "/malformed":
                sock.sendall(b"HTTP/1.1 2x0 Nope\r\nContent-Length: 0\r\n\r\n")
                sock.close()
                return
            elif path == "/oversized":
                sock.sendall(b"HTTP/1.1 200 OK\r\n" +
                             b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 200)
                                      for i in range(1000)) +
                             b"Content-Length: 0\r\n\r\n")
                sock.close()
                return
            elif path == "/never":
                sock.settimeout(60)
                try:
                    while sock.recv(65536):
                        pass
                except OSError:
                    pass
                sock.close()
                return
            else:
                sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    open(a.log, "a").close()
    serve_forever(a.listen, a.ready_file, serve, a.log)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
