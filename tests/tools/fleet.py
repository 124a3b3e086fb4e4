#!/usr/bin/env python3
"""fleet.py: the client side and the HAProxy queries of the fleet test
(tests/integration/88-fleet.sh).  Standard library only.

    fleet.py load HOST PORT --cafile CA --phase-file F --stop-file F
                  --out F [--threads N] [--seconds S]
        Threads loop, each making a new TLS connection per request (so the
        balancer picks an instance for every request) and one
        GET /slow?ms=M&id=T-N with "Connection: close".  Before each
        request a thread reads the phase name from --phase-file; every
        request appends "PHASE ok|fail MS DETAIL" to --out.  A request
        fails when the connection, the handshake or the read breaks, the
        status is not 200 or the body is not the origin's.  Stops when
        --stop-file exists or after --seconds (a bound, not the plan).

    fleet.py summary OUT PHASE...
        Prints "PHASE: N requests, F failed" per phase, in that order, and
        exits 1 when any request failed (each failure is printed).

    fleet.py state SOCKET BACKEND SERVER
        Prints the server's status in HAProxy's "show stat" (UP, DOWN, ...)
        and its last check, read from the stats socket: "DOWN (L7STS/503)".

    fleet.py wait-state SOCKET BACKEND SERVER STATUS SECONDS
        Polls until the server's status is STATUS ("UP", "DOWN"; not the
        transitions "UP 1/2" ...) (exit 0), or prints the last status and
        exits 1 on timeout.
"""

import os
import socket
import ssl
import sys
import threading
import time

SNI = "kms.mcx.own.example"


def load(argv):
    import argparse

    ap = argparse.ArgumentParser(prog="fleet.py load")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--phase-file", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args(argv)

    ctx = ssl.create_default_context(cafile=a.cafile)
    lock = threading.Lock()
    out = open(a.out, "a", buffering=1)
    end = time.monotonic() + a.seconds

    def phase():
        try:
            with open(a.phase_file) as f:
                return f.read().strip() or "-"
        except OSError:
            return "-"

    def one(tid, n):
        # 40..160 ms at the origin: several requests are always in flight
        # on every instance, so a drain has something to finish.
        ms = 40 + (tid * 37 + n * 23) % 120
        req = ("GET /slow?ms=%d&id=%d-%d HTTP/1.1\r\nHost: %s\r\n"
               "Connection: close\r\n\r\n" % (ms, tid, n, SNI)).encode()
        with socket.create_connection((a.host, a.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=SNI) as s:
                s.sendall(req)
                data = b""
                while True:
                    try:
                        d = s.recv(65536)
                    except ssl.SSLZeroReturnError:
                        break
                    if not d:
                        break
                    data += d
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if not status.startswith(b"HTTP/1.1 200 "):
            raise RuntimeError("status %r" % status[:60])
        if body != b"slept %d ms\n" % ms:
            raise RuntimeError("body %r" % body[:60])

    def worker(tid):
        n = 0
        while time.monotonic() < end and not os.path.exists(a.stop_file):
            ph = phase()
            t0 = time.monotonic()
            try:
                one(tid, n)
                res, detail = "ok", "-"
            except Exception as e:  # every failure is counted, none is fatal
                res, detail = "fail", ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")
            ms = (time.monotonic() - t0) * 1000
            with lock:
                out.write("%s %s %.0f %s\n" % (ph, res, ms, detail))
            n += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return 0


def summary(argv):
    out, phases = argv[0], argv[1:]
    counts = {p: [0, 0] for p in phases}
    bad = []
    with open(out) as f:
        for ln in f:
            ph, res, _ = ln.split(" ", 2)
            c = counts.setdefault(ph, [0, 0])
            c[0] += 1
            if res != "ok":
                c[1] += 1
                bad.append(ln.rstrip("\n"))
    for p in list(phases) + [p for p in counts if p not in phases]:
        print("%s: %d requests, %d failed" % (p, counts[p][0], counts[p][1]))
    for ln in bad[:20]:
        print("failed: " + ln)
    return 1 if bad else 0


def show_stat(sock):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(b"show stat\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    lines = data.decode().splitlines()
    cols = lines[0].lstrip("# ").split(",")
    return [dict(zip(cols, ln.split(","))) for ln in lines[1:] if ln]


def state(sock, be, srv):
    for r in show_stat(sock):
        if r["pxname"] == be and r["svname"] == srv:
            code = r.get("check_code", "")
            return r["status"], "%s%s" % (r.get("check_status", ""),
                                          "/" + code if code else "")
    return "absent", "-"


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "load":
        return load(argv)
    if cmd == "summary":
        return summary(argv)
    if cmd == "state":
        print("%s (%s)" % state(*argv[:3]))
        return 0
    if cmd == "wait-state":
        sock, be, srv, want, secs = argv
        end = time.monotonic() + float(secs)
        while True:
            try:
                st = state(sock, be, srv)
            except OSError as e:
                st = ("no stats socket", str(e))
            if st[0] == want:
                return 0
            if time.monotonic() > end:
                print("%s (%s)" % st)
                return 1
            time.sleep(0.02)
    print("fleet.py: unknown command %r" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
