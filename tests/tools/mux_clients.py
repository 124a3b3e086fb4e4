#!/usr/bin/env python3
"""mux_clients.py: N concurrent HTTP/1.1-over-TLS clients, one request in
flight on each, for the upstream multiplexing figure (issue 11; test
82-h2-upstream part (k)).  Standard library only (asyncio, ssl).

  1. opens N TLS connections to the proxy (at most --parallel handshakes at a
     time; none sends anything yet);
  2. when all are up, writes one "GET PATH" on every connection in one go,
     so that all N are in flight at once (PATH is an h2_origin.py /slow?ms=M,
     slow enough that no answer comes before the last request is written);
  3. reads every response (Content-Length or chunked) and compares each
     body's sha256 with the one a direct request got (--reference: the direct
     body of the same PATH).  h2_origin.py names its connection and stream in
     a /slow body ("... conn C stream S ...") and in x-conn-id / x-stream-id,
     so the expected bytes are the reference's with C and S of this response;
  4. with --then PATH2 --then-sha HEX, sends PATH2 on every connection after
     its first answer and compares that body's sha256 with HEX as is (a
     direct request's, e.g. /size?n=K: the same bytes every time).

Meanwhile it polls the admin listener's /metrics (--metrics URL) every
--sample-ms and keeps the peaks of
mcxproxy_upstream_connections_by_protocol{protocol="h2"} and
mcxproxy_upstream_streams while the first requests are in flight.  With
--access-log (the proxy's access log, access_format = "json") it tells which
worker (the request id's two hex digits after the 8 of the prefix) carried
each first request (found by its client address and port), and counts the
origin connections each worker used.

Prints "KEY VALUE..." lines:
    connected N MS            connections up, and how long it took
    connect_errors N [WHAT]   connections that failed
    sent N                    requests written in step 2
    all_in_flight 0|1         the last request was written before any
                              response arrived
    status CODE COUNT         per status of the first requests ("error:X" when
                              none), then
    identical N               first responses byte-identical (sha256)
    mismatch I WHY            (at most 5)
    then_identical N          second responses identical (with --then)
    origin_conns N            distinct x-conn-id of the first responses
    max_per_origin_conn N     most first responses from one origin connection
    peak_h2_conns N           peak of the h2 upstream connection gauge
    peak_streams N            peak of the upstream streams gauge
    samples N                 /metrics samples taken in the flight
    worker W requests N conns C   (with --access-log), per worker
    flight_ms MS              from the first request written to the last
                              first response read
    total_ms MS
Exit status 0 when it ran (the test decides), 2 on a usage error.
"""

import argparse
import asyncio
import collections
import hashlib
import json
import re
import ssl
import sys
import time
import urllib.parse

SLOW_IDS = re.compile(rb"conn [0-9]+ stream [0-9]+")


class Client:
    def __init__(self, i):
        self.i = i
        self.reader = None
        self.writer = None
        self.error = None
        self.status = None
        self.headers = {}
        self.body = b""
        self.then_status = None
        self.then_sha = None
        self.local = None           # "ADDR:PORT", the access log's client


async def read_response(reader):
    """(status, headers dict (lower-case names, last wins), body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = \
            v.strip().decode("latin-1")
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()
    return status, headers, body


def request(path, host):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def with_client(path, i):
    """PATH with c=I added to its query (one distinct target per client)."""
    return path + ("&" if "?" in path else "?") + "c=%d" % i


async def fetch_metrics(url):
    u = urllib.parse.urlsplit(url)
    r, w = await asyncio.wait_for(
        asyncio.open_connection(u.hostname, u.port or 80), 2)
    try:
        w.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                 % (u.path or "/", u.netloc)).encode())
        status, _, body = await asyncio.wait_for(read_response(r), 2)
    finally:
        w.close()
    if status != 200:
        raise OSError("metrics: status %d" % status)
    vals = {}
    for line in body.decode("latin-1").splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            vals[k] = v
    return vals


async def sampler(url, every, stop, peaks):
    h2key = 'mcxproxy_upstream_connections_by_protocol{protocol="h2"}'
    while not stop.is_set():
        try:
            m = await fetch_metrics(url)
            peaks["samples"] += 1
            peaks["h2_conns"] = max(peaks["h2_conns"], int(m.get(h2key, 0)))
            peaks["streams"] = max(peaks["streams"],
                                   int(m.get("mcxproxy_upstream_streams", 0)))
        except (OSError, asyncio.TimeoutError, ValueError,
                asyncio.IncompleteReadError) as e:
            peaks["errors"] += 1
            peaks["last_error"] = "%s: %s" % (type(e).__name__, e)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


async def run(a):
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    ctx = ssl.create_default_context(cafile=a.cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    reference = open(a.reference, "rb").read() if a.reference else None
    if reference is not None and len(SLOW_IDS.findall(reference)) != 1:
        print("usage: the reference body names no (or several) \"conn C "
              "stream S\"", file=sys.stderr)
        return 2
    clients = [Client(i) for i in range(a.n)]
    sem = asyncio.Semaphore(a.parallel)

    async def connect(c):
        async with sem:
            left = deadline - time.monotonic()
            try:
                c.reader, c.writer = await asyncio.wait_for(
                    asyncio.open_connection(a.address, a.port, ssl=ctx,
                                            server_hostname=a.host,
                                            limit=1 << 20),
                    max(0.1, min(left, a.connect_timeout)))
            except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                c.error = "connect:%s" % type(e).__name__
                return
            sn = c.writer.get_extra_info("sockname")
            if sn:
                c.local = "%s:%d" % (sn[0], sn[1])

    await asyncio.gather(*(connect(c) for c in clients))
    t_conn = time.monotonic()
    up = [c for c in clients if c.error is None]
    errs = collections.Counter(c.error for c in clients if c.error)
    print("connected %d %d" % (len(up), (t_conn - t0) * 1000))
    print("connect_errors %d %s" % (sum(errs.values()), " ".join(
        "%s=%d" % kv for kv in sorted(errs.items()))))
    sys.stdout.flush()

    peaks = {"samples": 0, "h2_conns": 0, "streams": 0, "errors": 0,
             "last_error": ""}
    stop = asyncio.Event()
    samp = None
    if a.metrics:
        samp = asyncio.ensure_future(sampler(a.metrics, a.sample_ms / 1000.0,
                                             stop, peaks))
    first_answer = [None]
    last_read = [t_conn]

    async def first(c):
        try:
            st, hd, body = await asyncio.wait_for(
                read_response(c.reader), max(0.1, deadline - time.monotonic()))
        except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError,
                IndexError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError) as e:
            c.error = "read:%s" % type(e).__name__
            return
        now = time.monotonic()
        if first_answer[0] is None:
            first_answer[0] = now
        last_read[0] = max(last_read[0], now)
        c.status, c.headers, c.body = st, hd, body

    # Step 2: every request written before any read is awaited.
    for c in up:
        c.writer.write(request(with_client(a.path, c.i), a.host))
    t_sent = time.monotonic()
    print("sent %d" % len(up))
    sys.stdout.flush()
    await asyncio.gather(*(first(c) for c in up))
    stop.set()
    if samp is not None:
        await samp
    t_flight = last_read[0]

    if a.then:
        async def second(c):
            if c.error is not None or c.status is None:
                return
            try:
                c.writer.write(request(with_client(a.then, c.i), a.host))
                st, _, body = await asyncio.wait_for(
                    read_response(c.reader),
                    max(0.1, deadline - time.monotonic()))
                c.then_status = st
                c.then_sha = hashlib.sha256(body).hexdigest()
            except (OSError, asyncio.TimeoutError, ssl.SSLError, ValueError,
                    IndexError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError) as e:
                c.then_status = "error:%s" % type(e).__name__
        await asyncio.gather(*(second(c) for c in up))

    for c in up:
        c.writer.close()
    await asyncio.gather(*(asyncio.wait_for(c.writer.wait_closed(), 2)
                           for c in up), return_exceptions=True)
    t_end = time.monotonic()

    # ---- results ---------------------------------------------------------
    print("all_in_flight %d" % (1 if first_answer[0] is not None and
                                t_sent < first_answer[0] and
                                len(up) == a.n else 0))
    codes = collections.Counter(
        str(c.status) if c.status is not None else (c.error or "error:none")
        for c in clients)
    for k, v in sorted(codes.items()):
        print("status %s %d" % (k, v))
    identical = 0
    mismatches = []
    per_conn = collections.Counter()
    conn_of = {}
    for c in clients:
        if c.status != 200:
            continue
        cid, sid = c.headers.get("x-conn-id"), c.headers.get("x-stream-id")
        if cid is not None:
            per_conn[cid] += 1
            conn_of[c.i] = cid
        if reference is None:
            continue
        if cid is None or sid is None:
            mismatches.append((c.i, "no x-conn-id or x-stream-id"))
            continue
        want = SLOW_IDS.sub(b"conn %s stream %s" % (cid.encode(),
                                                    sid.encode()), reference)
        if hashlib.sha256(c.body).digest() == hashlib.sha256(want).digest():
            identical += 1
        else:
            mismatches.append((c.i, "%d bytes %r, want %d bytes %r" % (
                len(c.body), c.body[:120], len(want), want[:120])))
    print("identical %d" % identical)
    for i, why in mismatches[:5]:
        print("mismatch %d %s" % (i, why))
    if a.then:
        print("then_identical %d" % sum(
            1 for c in clients if c.then_status == 200 and
            c.then_sha == a.then_sha))
        tc = collections.Counter(str(c.then_status) for c in clients
                                 if c.then_status is not None)
        for k, v in sorted(tc.items()):
            print("then_status %s %d" % (k, v))
    print("origin_conns %d" % len(per_conn))
    print("max_per_origin_conn %d" % max(per_conn.values(), default=0))
    print("peak_h2_conns %d" % peaks["h2_conns"])
    print("peak_streams %d" % peaks["streams"])
    print("samples %d" % peaks["samples"])
    if peaks["errors"]:
        print("sample_errors %d %s" % (peaks["errors"], peaks["last_error"]))

    if a.access_log:
        # The proxy writes an access line when it finishes a response: give
        # the last ones a moment to reach the file.
        # Its path has no query: the client's address and port tell the
        # connection, hence the request.
        path_only = urllib.parse.urlsplit(a.path).path
        local_of = {clients[i].local: i for i in conn_of
                    if clients[i].local is not None}
        worker_of = {}
        end = time.monotonic() + 5
        while True:
            worker_of = {}
            try:
                with open(a.access_log, encoding="utf-8",
                          errors="replace") as f:
                    for line in f:
                        try:
                            d = json.loads(line[line.index("{"):])
                        except ValueError:
                            continue
                        if d.get("path") != path_only:
                            continue
                        i = local_of.get(d.get("client"))
                        if i is not None and len(d.get("request_id", "")) >= 10:
                            worker_of[i] = d["request_id"][8:10]
            except OSError:
                pass
            if len(worker_of) >= len(conn_of) or time.monotonic() > end:
                break
            await asyncio.sleep(0.1)
        per_worker = collections.defaultdict(set)
        reqs = collections.Counter()
        for i, w in worker_of.items():
            per_worker[w].add(conn_of[i])
            reqs[w] += 1
        for w in sorted(per_worker):
            print("worker %s requests %d conns %d" % (
                w, reqs[w], len(per_worker[w])))
        print("access_lines %d" % len(worker_of))
        # An origin connection serves one worker only (pools are per worker).
        shared = set.intersection(*per_worker.values()) \
            if len(per_worker) > 1 else set()
        print("shared_conns %d" % len(shared))

    print("flight_ms %d" % ((t_flight - t_sent) * 1000))
    print("total_ms %d" % ((t_end - t0) * 1000))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--host", required=True, help="SNI and Host")
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--path", required=True, help="first request's target")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=50,
                    help="TLS handshakes at a time (default 50)")
    ap.add_argument("--connect-timeout", type=float, default=20)
    ap.add_argument("--timeout", type=float, default=90,
                    help="bound of the whole run (default 90 s)")
    ap.add_argument("--reference", help="direct body of --path")
    ap.add_argument("--then", help="second request's target")
    ap.add_argument("--then-sha", help="sha256 of its direct body")
    ap.add_argument("--metrics", help="http://HOST:PORT/metrics to sample")
    ap.add_argument("--sample-ms", type=float, default=50)
    ap.add_argument("--access-log", help="the proxy's JSON access log")
    a = ap.parse_args()
    if bool(a.then) != bool(a.then_sha):
        ap.error("--then and --then-sha go together")
    return asyncio.run(run(a))


if __name__ == "__main__":
    sys.exit(main())
