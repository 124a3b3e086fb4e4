#!/usr/bin/env python3
# h1c.py: raw HTTP/1.1 client for the tests.  Sends stdin in one write over
# TLS (default) or TCP; when stdin has NUL bytes, sends the part before the
# first NUL, then each next part only after the previous response arrived.
# Parses the responses to the given methods and
# prints them as lines "N:STATUS <status line>", "N:H <field line>",
# "N:B <body line>", "N:BYTES <n>", then "EXTRA <n>" and "EOF <how>".
# --wait-file F: before each later part, also wait until file F exists (a
# keep-alive connection that stays idle until the test says go).
import argparse, os, socket, ssl, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--plain", action="store_true")
ap.add_argument("--cafile")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--sni", default="proxy.mcx.own.example")
ap.add_argument("--tls12", action="store_true", help="TLS 1.2 only")
ap.add_argument("--methods", default="", help="comma list, one per response")
ap.add_argument("--wait-eof", action="store_true")
ap.add_argument("--timeout", type=float, default=10.0)
ap.add_argument("--wait-file", help="later parts wait for this file")
a = ap.parse_args()
deadline = time.monotonic() + a.timeout
data = sys.stdin.buffer.read()
out = sys.stdout

class Closed(Exception):
    pass

sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
if not a.plain:
    ctx = ssl.create_default_context(cafile=a.cafile)
    if a.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    sock = ctx.wrap_socket(sock, server_hostname=a.sni,
                           suppress_ragged_eofs=False)
chunks = data.split(b"\0")
sock.sendall(chunks[0])
buf = bytearray()
eof = None

def fill():
    global eof
    if eof:
        raise Closed()
    left = deadline - time.monotonic()
    if left <= 0:
        eof = "timeout"
        raise Closed()
    sock.settimeout(left)
    try:
        d = sock.recv(65536)
    except ssl.SSLEOFError:
        eof = "ragged"
        raise Closed()
    except (socket.timeout, TimeoutError):
        eof = "timeout"
        raise Closed()
    except ConnectionResetError:
        eof = "reset"
        raise Closed()
    except ssl.SSLError as e:
        eof = "tls-error " + str(e)
        raise Closed()
    if not d:
        eof = "clean"
        raise Closed()
    buf.extend(d)

def line():
    while b"\n" not in buf:
        fill()
    i = buf.index(b"\n") + 1
    s = bytes(buf[:i])
    del buf[:i]
    return s.rstrip(b"\r\n").decode("latin-1")

def take(n):
    while len(buf) < n:
        fill()
    s = bytes(buf[:n])
    del buf[:n]
    return s

def take_all():
    try:
        while True:
            fill()
    except Closed:
        pass
    s = bytes(buf)
    del buf[:]
    return s

def show_body(n, body):
    out.write("%d:BYTES %d\n" % (n, len(body)))
    for ln in body.decode("latin-1").split("\n"):
        if ln:
            out.write("%d:B %s\n" % (n, ln))

methods = [m for m in a.methods.split(",") if m]
n = 0
try:
    for i, m in enumerate(methods):
        if 0 < i < len(chunks):
            while a.wait_file and not os.path.exists(a.wait_file):
                if time.monotonic() > deadline:
                    raise socket.timeout("--wait-file never appeared")
                time.sleep(0.02)
            sock.sendall(chunks[i])
        while True:
            n += 1
            st = line()
            out.write("%d:STATUS %s\n" % (n, st))
            hdrs = []
            while True:
                h = line()
                if h == "":
                    break
                out.write("%d:H %s\n" % (n, h))
                k, _, v = h.partition(":")
                hdrs.append((k.strip().lower(), v.strip()))
            code = int(st.split()[1])
            if code >= 200:
                break
        get = lambda k: [v for kk, v in hdrs if kk == k]
        if m == "HEAD" or code in (204, 304):
            show_body(n, b"")
        elif "chunked" in ",".join(get("transfer-encoding")).lower():
            body = bytearray()
            while True:
                sz = int(line().split(";")[0], 16)
                if sz == 0:
                    while line() != "":
                        pass
                    break
                body += take(sz)
                if take(2) != b"\r\n":
                    out.write("%d:BADCHUNK\n" % n)
            show_body(n, bytes(body))
        elif get("content-length"):
            show_body(n, take(int(get("content-length")[0])))
        else:
            show_body(n, take_all())
except Closed:
    out.write("TRUNCATED\n")
except (ValueError, IndexError) as e:
    out.write("UNPARSABLE %r\n" % (bytes(buf[:200]),))
if a.wait_eof or not methods:
    rest = take_all()
    if not methods:
        out.write(rest.decode("latin-1"))
        out.write("\n")
    elif rest:
        out.write("EXTRA %d %r\n" % (len(rest), rest[:200]))
out.write("EOF %s\n" % (eof or "not-waited"))
