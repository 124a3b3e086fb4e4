#!/usr/bin/env python3
"""TLS client helper for bench/run.sh (standard library only).

  tlsclient.py check --port P [--post-bytes N] [--h2]
      One frontend's preflight: GET / and POST /echo through it, the TLS version, cipher
      and ALPN a default client (offering http/1.1) negotiates, whether TLS 1.2 is accepted,
      and whether a second connection resumes the session of the first (tickets / session
      cache).  noalpn: GET / from a client that offers no ALPN at all, as wrk does (it must
      get HTTP/1.1 from a frontend that also serves h2).  With --h2: h2alpn = the protocol
      the frontend selects when offered "h2, http/1.1" (as h2load and browsers do).
      Prints "key=value" lines.

  tlsclient.py idle --port P --conns N [--conc C] --pids PID,PID [--deadline S]
      Memory per idle connection: reads the summed VmRSS of PIDs, opens N TLS connections
      (at most C handshakes in flight), reads it again, sends one keep-alive GET on each
      connection, reads it again, then closes them all.  Prints one "RESULT key=value ..."
      line.  Exits 1 when fewer than all connections could be opened or used.

Loopback only: the host is always 127.0.0.1.
"""

import argparse
import asyncio
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"


def client_context(version=None, alpn=("http/1.1",)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE          # self-signed bench certificate
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if version == 12:
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def parse_head(head):
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def read_response(sock):
    """Blocking: read one HTTP/1.1 response with Content-Length or chunked body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status, headers = parse_head(head)
    if b"content-length" in headers:
        n = int(headers[b"content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, len(rest[:n]), headers
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                chunk = sock.recv(65536)
                if not chunk:
                    return status, len(body), headers
                rest += chunk
            line, rest = rest.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return status, len(body), headers
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, len(body), headers
    return status, 0, headers


def one_request(port, ctx, method, path, body=b"", session=None):
    raw = socket.create_connection((HOST, port), timeout=5)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        req = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
               f"Content-Length: {len(body)}\r\n").encode()
        if body:
            req += b"Content-Type: application/octet-stream\r\n"
        s.sendall(req + b"\r\n" + body)
        status, size, _ = read_response(s)
        info = (s.version(), s.cipher()[0], s.selected_alpn_protocol(), s.session_reused)
        return status, size, info, s.session
    finally:
        s.close()


def cmd_check(a):
    ctx = client_context()
    out = {}
    try:
        st, sz, info, sess = one_request(a.port, ctx, "GET", "/")
        out.update(get=f"{st}/{sz}", tls=info[0], cipher=info[1], alpn=info[2] or "-")
        try:
            _, _, info2, _ = one_request(a.port, ctx, "GET", "/", session=sess)
            out["resumed"] = "yes" if info2[3] else "no"
        except (OSError, ssl.SSLError) as e:
            out["resumed"] = f"error:{type(e).__name__}"
    except (OSError, ssl.SSLError, ValueError) as e:
        out["get"] = f"error:{type(e).__name__}:{e}".replace(" ", "_")
    try:
        st, sz, _, _ = one_request(a.port, ctx, "POST", "/echo", b"x" * a.post_bytes)
        out["post"] = f"{st}/{sz}"
    except (OSError, ssl.SSLError, ValueError) as e:
        out["post"] = f"error:{type(e).__name__}".replace(" ", "_")
    try:
        _, _, info, _ = one_request(a.port, client_context(12), "GET", "/")
        out["tls12"] = f"{info[0]}/{info[1]}"
    except (OSError, ssl.SSLError, ValueError) as e:
        out["tls12"] = f"refused:{type(e).__name__}"
    try:   # no ALPN extension at all (wrk): HTTP/1.1
        st, sz, info, _ = one_request(a.port, client_context(alpn=None), "GET", "/")
        out["noalpn"] = f"{st}/{sz}/{info[2] or '-'}"
    except (OSError, ssl.SSLError, ValueError) as e:
        out["noalpn"] = f"error:{type(e).__name__}".replace(" ", "_")
    if a.h2:   # handshake only: which protocol the frontend picks from "h2, http/1.1"
        try:
            raw = socket.create_connection((HOST, a.port), timeout=5)
            s = client_context(alpn=("h2", "http/1.1")).wrap_socket(raw, server_hostname="localhost")
            out["h2alpn"] = s.selected_alpn_protocol() or "-"
            s.close()
        except (OSError, ssl.SSLError) as e:
            out["h2alpn"] = f"error:{type(e).__name__}".replace(" ", "_")
    for k, v in out.items():
        print(f"{k}={v}")
    return 0


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


async def idle_main(a):
    pids = [p for p in a.pids.split(",") if p]
    ctx = client_context()
    sem = asyncio.Semaphore(a.conc)
    conns = []
    failures = {"open": 0, "request": 0}
    req = f"GET / HTTP/1.1\r\nHost: {HOST}:{a.port}\r\n\r\n".encode()

    async def opener():
        async with sem:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(HOST, a.port, ssl=ctx, server_hostname="localhost"), 20)
                conns.append((r, w))
            except (OSError, ssl.SSLError, asyncio.TimeoutError):
                failures["open"] += 1

    async def requester(r, w):
        async with sem:
            try:
                w.write(req)
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
                status, headers = parse_head(head[:-4])
                await asyncio.wait_for(r.readexactly(int(headers.get(b"content-length", b"0"))), 20)
                if status != 200:
                    failures["request"] += 1
            except (OSError, ssl.SSLError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ValueError):
                failures["request"] += 1

    rss0 = rss_kib(pids)
    t0 = time.monotonic()
    await asyncio.gather(*(opener() for _ in range(a.conns)))
    t_open = time.monotonic() - t0
    await asyncio.sleep(1.0)
    rss1 = rss_kib(pids)
    await asyncio.gather(*(requester(r, w) for r, w in conns))
    await asyncio.sleep(1.0)
    rss2 = rss_kib(pids)
    for _, w in conns:
        w.transport.abort()
    await asyncio.sleep(2.0)
    rss3 = rss_kib(pids)
    n = len(conns)
    per_hs = (rss1 - rss0) / n if n else 0.0
    per_req = (rss2 - rss0) / n if n else 0.0
    print(f"RESULT conns={n} wanted={a.conns} open_failed={failures['open']} "
          f"request_failed={failures['request']} open_s={t_open:.2f} rss_before_kib={rss0} "
          f"rss_after_handshake_kib={rss1} rss_after_request_kib={rss2} rss_after_close_kib={rss3} "
          f"kib_per_conn_handshake={per_hs:.2f} kib_per_conn_request={per_req:.2f}")
    return 0 if n == a.conns and failures["request"] == 0 else 1


def cmd_idle(a):
    try:
        return asyncio.run(asyncio.wait_for(idle_main(a), a.deadline))
    except asyncio.TimeoutError:
        print(f"idle probe: deadline of {a.deadline} s exceeded", file=sys.stderr)
        return 2


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--post-bytes", type=int, default=16384)
    c.add_argument("--h2", action="store_true", help="also check that ALPN h2 is selected")
    i = sub.add_parser("idle")
    i.add_argument("--port", type=int, required=True)
    i.add_argument("--conns", type=int, required=True)
    i.add_argument("--conc", type=int, default=100)
    i.add_argument("--pids", required=True)
    i.add_argument("--deadline", type=float, default=120)
    a = p.parse_args()
    return cmd_check(a) if a.cmd == "check" else cmd_idle(a)


if __name__ == "__main__":
    sys.exit(main())
