#!/usr/bin/env python3
"""rawtls.py: sends exact bytes over one TLS connection, in one write.

Usage: rawtls.py PORT SNI CA REQUEST-FILE WAIT META
Reads until the server closes or WAIT seconds pass; the response goes to
stdout, and "HOW FIRST_MS END_MS" to the file META (HOW: eof, reset or
open)."""
import socket, ssl, sys, time
port, host, ca, infile, wait, meta = sys.argv[1:7]
wait = float(wait)
data = open(infile, "rb").read()
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", int(port)), timeout=wait)
ss = ctx.wrap_socket(s, server_hostname=host)
t0 = time.monotonic()
try:
    ss.sendall(data)
except OSError:
    pass
resp, how, first = b"", "open", None
deadline = t0 + wait
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    ss.settimeout(left)
    try:
        d = ss.recv(65536)
    except (socket.timeout, TimeoutError):
        break
    except ssl.SSLError:
        how = "eof"
        break
    except ConnectionResetError:
        how = "reset"
        break
    if not d:
        how = "eof"
        break
    if first is None:
        first = time.monotonic()
    resp += d
end = time.monotonic()
sys.stdout.buffer.write(resp)
with open(meta, "w") as f:
    f.write("%s %d %d\n" % (how, int(((first or end) - t0) * 1000),
                            int((end - t0) * 1000)))
