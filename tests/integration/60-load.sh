#!/bin/sh
# Load: 200 concurrent TLS clients (python threads, one connection each).
# All 200 connect and finish their handshakes first, then send at the same
# moment (a barrier), so the proxy holds 200 client connections and up to
# 200 upstream ones at once.  The requests are mixed:
#   i % 4 == 0: GET /slow?ms=500          (keeps upstream connections busy)
#   i % 4 == 1: GET /bytes?n=N            sized response, N differs per client
#   i % 4 == 2: GET /bytes?n=N&chunked=1  chunked response
#   i % 4 == 3: POST /upload, 8..40 KB    body checksum echoed by the origin
# Each client checks its status (200) and its body byte for byte (the
# /bytes pattern, the upload's sha256).  Then: the proxy is still running,
# logged no refused connection, serves a request, and stops cleanly.
# Two workers: the clients spread over both event loops.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

start_origin gms
std_conf proxy.conf
sed 's/^workers = 1;/workers = 2;/' "$CONF" >"$CONF.2" && mv "$CONF.2" "$CONF"
expect_file_match "$CONF" '^workers = 2;' "config with two workers"
start_proxy "$CONF"

cat >"$TMP/load.py" <<'EOF'
import hashlib, os, socket, ssl, sys, threading, time
sys.path.insert(0, os.environ["TOOLS"])
import origin  # the /bytes pattern: origin.pattern_pieces

port, host, ca, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
barrier = threading.Barrier(n, timeout=30)
results = [None] * n


def pattern(k):
    return b"".join(origin.pattern_pieces(k))


def dechunk(b):
    out = bytearray()
    while True:
        line, _, b = b.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += b[:size]
        if b[size:size + 2] != b"\r\n":
            raise ValueError("bad chunk framing")
        b = b[size + 2:]


def client(i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        c = ctx.wrap_socket(s, server_hostname=host)
        kind = i % 4
        body = b""
        if kind == 0:
            req = b"GET /slow?ms=500&c=%d HTTP/1.1\r\n" % i
            want = b"slept 500 ms\n"
        elif kind in (1, 2):
            k = 1000 + i * 977
            req = b"GET /bytes?n=%d%s HTTP/1.1\r\n" % (
                k, b"&chunked=1" if kind == 2 else b"")
            want = pattern(k)
        else:
            body = os.urandom(8192 + i * 160)
            req = b"POST /upload HTTP/1.1\r\nContent-Length: %d\r\n" % len(body)
            want = b"bytes=%d sha256=%s\n" % (
                len(body), hashlib.sha256(body).hexdigest().encode())
        req += b"Host: %s\r\nConnection: close\r\n\r\n" % host.encode() + body
        barrier.wait()
        c.sendall(req)
        data = bytearray()
        while True:
            try:
                d = c.recv(262144)
            except ssl.SSLError:
                break
            if not d:
                break
            data += d
        head, _, got = bytes(data).partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if " 200 " not in status + " ":
            results[i] = "status %r" % status
            return
        if b"\r\ntransfer-encoding: chunked" in head.lower():
            got = dechunk(got)
        if got != want:
            results[i] = "body mismatch (%d bytes, want %d)" % (len(got), len(want))
            return
        results[i] = "ok"
    except Exception as e:      # reported below, per client
        results[i] = "%s: %s" % (e.__class__.__name__, e)


t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
bad = [(i, r) for i, r in enumerate(results) if r != "ok"]
print("clients=%d ok=%d seconds=%.2f" % (n, n - len(bad), time.monotonic() - t0))
for i, r in bad[:20]:
    print("client %d: %s" % (i, r))
sys.exit(1 if bad else 0)
EOF

rc=0
TOOLS=$TOOLS python3 "$TMP/load.py" "$PROXY_PORT" gms.mcx.own.example "$PKI/ca.pem" 200 \
    >"$TMP/load.out" 2>&1 || rc=$?
say "$(head -n 1 "$TMP/load.out")"
[ "$rc" -eq 0 ] || fail "200 concurrent clients: $(cat "$TMP/load.out")"
expect_file_match "$TMP/load.out" '^clients=200 ok=200 ' "200 concurrent clients"

is_alive "$PROXY_PID" || fail "mcxproxy died under load"
if grep -q -E 'max_connections|accept:|pool full|sanitizer' "$TMP/proxy.log"; then
	fail "the proxy refused or failed something under load: $(grep -E 'max_connections|accept:|pool full' "$TMP/proxy.log" | head -n 3)"
fi
expect_eq "$(grep -c 'status=200 ' "$TMP/proxy.log")" 200 "access log lines with status 200"
# Every one of the 50 /slow requests was in flight at the same time as the
# others: the origin saw at least 50 connections.
conns=$(curl -sS --max-time 10 "http://127.0.0.1:$ORIGIN_PORT_GMS/stats" |
    sed -n 's/.*"connections": *\([0-9]*\).*/\1/p')
[ "${conns:-0}" -ge 51 ] || fail "the origin saw only ${conns:-0} connections: requests did not overlap"
code=$(curl_code "$(ue_url gms.mcx.own.example /conn)")
expect_eq "$code" 200 "a request after the load"
stop_proxy
say "200 clients served; origin saw $conns connections; proxy exited 0"
