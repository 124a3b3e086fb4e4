#!/usr/bin/env python3
"""diffcases.py: the same odd-but-legal and illegal requests through two
proxies (mcxproxy and HAProxy) to recording upstreams (recorder.py).

Each case goes on its own TCP connection to each proxy.  For each case
the table shows the status each proxy answered ("-" for a close without
an answer) and whether the upstream received it.  Passes (exit 0) when (DIVERGENT lists two deliberate differences, held to
their own expectations):
  - every legal case reached the upstream through mcxproxy with a 200, and
    what the upstream saw matches what it saw through HAProxy (method,
    origin-form target, end-to-end header fields in order with names
    compared case-insensitively, body bytes, trailer presence) -- fields a
    proxy adds or owns (Via, X-Forwarded-For, Forwarded, Connection,
    Keep-Alive, framing) left out;
  - every illegal case HAProxy refused (not forwarded) mcxproxy refused
    too, and mcxproxy forwarded no illegal case at all.

Usage: diffcases.py --mcx PORT --mcx-dir DIR --haproxy PORT --ha-dir DIR
"""

import argparse
import glob
import os
import socket
import sys
import time

H = b"gms.mcx.own.example"


def req(line, headers=(), body=b"", host=True):
    hs = [b"Host: " + H] if host else []
    hs += list(headers)
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in hs) + b"\r\n" + body


def chunked(*parts, trailers=b""):
    out = b""
    for p in parts:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


LEGAL = {
    "long-uri": req(b"GET /case-long-uri/" + b"a" * 8000 + b" HTTP/1.1"),
    "many-fields": req(b"GET /case-many-fields HTTP/1.1",
                       [b"X-F%d: value-%d" % (i, i) for i in range(80)]),
    "propfind": req(b"PROPFIND /case-propfind HTTP/1.1", [b"Depth: 1"]),
    "patch": req(b"PATCH /case-patch HTTP/1.1", [b"Content-Length: 5"], b"hello"),
    "percent": req(b"GET /case-percent/a%20b/%7Euser?q=%E2%82%AC&x=%2F HTTP/1.1"),
    "expect": req(b"POST /case-expect HTTP/1.1",
                  [b"Expect: 100-continue", b"Content-Length: 4"], b"body"),
    "chunk-ext": req(b"POST /case-chunk-ext HTTP/1.1", [b"Transfer-Encoding: chunked"],
                     b"5;name=value\r\nhello\r\n0\r\n\r\n"),
    "empty-value": req(b"GET /case-empty-value HTTP/1.1", [b"X-Empty:"]),
    "repeated": req(b"GET /case-repeated HTTP/1.1",
                    [b"Accept: text/plain", b"Accept: application/json"]),
    "token-chars": req(b"GET /case-token-chars HTTP/1.1", [b"X-A!#$%&'*+.^_`|~b: v"]),
    "absolute-form": req(b"GET http://gms.mcx.own.example/case-absolute-form?x=1 HTTP/1.1"),
    "http10": req(b"GET /case-http10 HTTP/1.0"),
    "post-empty": req(b"POST /case-post-empty HTTP/1.1", [b"Content-Length: 0"]),
    "big-body": req(b"PUT /case-big-body HTTP/1.1", [b"Content-Length: 1048576"],
                    bytes(range(256)) * 4096),
    "query-only": req(b"GET /case-query-only?a=1&b=&c HTTP/1.1"),
    "tab-value": req(b"GET /case-tab-value HTTP/1.1", [b"X-Tab: a\tb"]),
    "bearer": req(b"POST /case-bearer HTTP/1.1",
                  [b"Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
                   b"Content-Type: application/xml", b"Content-Length: 7"], b"<a/>\r\n\t"),
}

# Legal requests mcxproxy treats differently on purpose; the table shows
# them, and the test holds mcxproxy to the behaviour described.
DIVERGENT = {
    # llhttp (strict) knows the registered methods only: an extension
    # method is refused (400) and nothing is forwarded.  3GPP MC services
    # use GET, PUT, POST, DELETE and PATCH.
    "custom-method": req(b"FOO-BAR /case-custom-method HTTP/1.1"),
    # Trailer fields are dropped (RFC 9110 6.5.1 allows it): forwarded,
    # they would carry X-3GPP-Asserted-Identity or Authorization past the
    # head checks to a server that merges trailers into the header section.
    "trailers": req(b"POST /case-trailers HTTP/1.1",
                    [b"Transfer-Encoding: chunked", b"TE: trailers"],
                    chunked(b"abc", b"defgh", trailers=b"X-Checksum: 1234\r\n")),
}

ILLEGAL = {
    "cl-te": req(b"POST /case-cl-te HTTP/1.1",
                 [b"Content-Length: 5", b"Transfer-Encoding: chunked"], chunked(b"hello")),
    "two-cl": req(b"POST /case-two-cl HTTP/1.1",
                  [b"Content-Length: 5", b"Content-Length: 6"], b"hello!"),
    "te-not-last": req(b"POST /case-te-not-last HTTP/1.1",
                       [b"Transfer-Encoding: chunked, gzip"], chunked(b"hello")),
    "te-unknown": req(b"POST /case-te-unknown HTTP/1.1",
                      [b"Transfer-Encoding: foo"], b"hello"),
    "space-colon": req(b"GET /case-space-colon HTTP/1.1", [b"X-A : b"]),
    "obs-fold": req(b"GET /case-obs-fold HTTP/1.1", [b"X-A: b", b" c"]),
    "bad-chunk": req(b"POST /case-bad-chunk HTTP/1.1", [b"Transfer-Encoding: chunked"],
                     b"zz\r\nhello\r\n0\r\n\r\n"),
    "nul-value": req(b"GET /case-nul-value HTTP/1.1", [b"X-A: a\x00b"]),
    "no-host": req(b"GET /case-no-host HTTP/1.1", host=False),
    "two-hosts": req(b"GET /case-two-hosts HTTP/1.1", [b"Host: other.example"]),
    "bad-method": req(b"G(ET /case-bad-method HTTP/1.1"),
    "bad-version": req(b"GET /case-bad-version HTTP/1.x"),
    "no-colon": req(b"GET /case-no-colon HTTP/1.1", [b"X-No-Colon"]),
    "cl-letters": req(b"POST /case-cl-letters HTTP/1.1", [b"Content-Length: 1a"], b"x"),
    "cl-negative": req(b"POST /case-cl-negative HTTP/1.1", [b"Content-Length: -1"]),
    "ctl-in-uri": req(b"GET /case-ctl-in-uri\x01 HTTP/1.1"),
    "space-in-uri": req(b"GET /case-space in-uri HTTP/1.1"),
    "cr-in-value": req(b"GET /case-cr-in-value HTTP/1.1", [b"X-A: a\rb"]),
    "bad-name": req(b"GET /case-bad-name HTTP/1.1", [b"X(A): b"]),
    "chunk-size-overflow": req(b"POST /case-chunk-size-overflow HTTP/1.1",
                               [b"Transfer-Encoding: chunked"],
                               b"10000000000000001\r\nx\r\n0\r\n\r\n"),
}


def send(port, data):
    """Status the proxy answered, or "-" when it closed without one."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        buf = b""
        end = time.monotonic() + 5
        while b"\r\n" not in buf and time.monotonic() < end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        # A 100 Continue comes first for the Expect case: wait for more.
        while buf.startswith(b"HTTP/1.1 100") and buf.count(b"\r\n\r\n") < 2 and \
                time.monotonic() < end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        if buf.startswith(b"HTTP/1.1 100"):
            buf = buf.split(b"\r\n\r\n", 1)[1]
        return buf.split(b" ")[1].decode() if buf.startswith(b"HTTP/") else "-"
    except OSError:
        return "-"
    finally:
        s.close()


SKIP = {"via", "x-forwarded-for", "forwarded", "connection", "keep-alive",
        "content-length", "transfer-encoding", "x-forwarded-proto", "te"}


def seen(d, tag):
    """What the upstream saw for tag: (head lines, body, trailers) or None."""
    heads = sorted(glob.glob(os.path.join(d, tag + ".*.head")))
    if not heads:
        return None
    base = heads[0][:-5]
    head = open(heads[0], "rb").read().split(b"\r\n")
    body = open(base + ".body", "rb").read()
    trailers = os.path.exists(base + ".trailers")
    return head, body, trailers


def normal(view):
    head, body, trailers = view
    method, target = head[0].split(b" ")[0:2]
    if target.startswith(b"http://"):
        target = b"/" + target.split(b"/", 3)[3]
    fields = []
    for ln in head[1:]:
        k, _, v = ln.partition(b":")
        k = k.decode().lower()
        if k not in SKIP:
            fields.append((k, v.strip()))
    return method, target, fields, body, trailers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcx", type=int, required=True)
    ap.add_argument("--mcx-dir", required=True)
    ap.add_argument("--haproxy", type=int, required=True)
    ap.add_argument("--ha-dir", required=True)
    a = ap.parse_args()
    problems = []
    print("%-20s %-8s %-8s %-9s %-9s %s" % ("case", "kind", "haproxy", "mcxproxy",
                                           "forwarded", "verdict"))
    for kind, cases in (("legal", LEGAL), ("divergent", DIVERGENT),
                        ("illegal", ILLEGAL)):
        for name, data in cases.items():
            st_ha = send(a.haproxy, data)
            st_mx = send(a.mcx, data)
            time.sleep(0.05)  # let the recorders write what they got
            v_ha, v_mx = seen(a.ha_dir, name), seen(a.mcx_dir, name)
            fwd = "%s/%s" % ("ha" if v_ha else "-", "mx" if v_mx else "-")
            verdict = "ok"
            if kind == "legal":
                if v_mx is None or st_mx != "200":
                    verdict = "NOT FORWARDED by mcxproxy"
                elif v_ha is not None and normal(v_ha) != normal(v_mx):
                    verdict = "DIFFERS: ha %r / mx %r" % (normal(v_ha)[:3], normal(v_mx)[:3])
            elif name == "custom-method":
                if v_mx is not None or st_mx != "400":
                    verdict = "expected 400, not forwarded"
                else:
                    verdict = "ok (refused: llhttp knows registered methods only)"
            elif name == "trailers":
                if v_mx is None or st_mx != "200":
                    verdict = "NOT FORWARDED by mcxproxy"
                elif v_mx[2]:
                    verdict = "trailers forwarded"
                elif v_ha is not None and normal(v_ha)[:4] != normal(v_mx)[:4]:
                    verdict = "DIFFERS beyond the trailers"
                else:
                    verdict = "ok (trailers dropped on purpose)"
            else:
                if v_mx is not None:
                    verdict = "FORWARDED by mcxproxy"
                elif v_ha is None and st_mx.startswith("2"):
                    verdict = "mcxproxy answered %s" % st_mx
            if not verdict.startswith("ok"):
                problems.append(name)
            print("%-20s %-8s %-8s %-9s %-9s %s" % (name, kind, st_ha, st_mx, fwd, verdict))
    print("%d cases, %d problems%s" % (len(LEGAL) + len(DIVERGENT) + len(ILLEGAL),
                                      len(problems),
                                      (": " + " ".join(problems)) if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
