#!/bin/sh
# Limits and client-side timeouts (contract section 3 limits/timeouts and
# section 4 status codes), over raw TLS connections:
#   limits.max_body_bytes = 1000:
#     Content-Length 1000 -> 200; Content-Length 1001 -> 413 at once, the
#     origin gets nothing;
#     chunked 1000 bytes -> 200; chunked body crossing the limit (1001
#     bytes, no last chunk sent) -> 413 (the origin has not answered, so the
#     proxy can still answer), connection closed, the upload never
#     completes at the origin
#   limits.max_header_bytes = 2048: a 1900-byte head -> 200; target over it
#     -> 414; header fields over it -> 431 (nothing forwarded)
#   limits.max_header_fields = 10: 10 fields -> 200, 11 -> 431
#   limits.max_connections = 4: a 5th concurrent connection is closed
#     without a TLS handshake; once one closes, a new one is served
#   timeouts.request_header = 1.0: half a head -> 408 after about 1 s; a
#     head trickled in 5-byte pieces every 200 ms -> 408 after about 1 s
#     too (the deadline is for the whole head, not per read); a connection
#     that sends nothing is closed after about 1 s without a response
#   20000 pipelined GETs sent without reading (another instance): RSS
#     stays flat, then all 20000 responses arrive (a head split across the
#     TLS record where the input watermark stopped reading no longer
#     stalls)
#   limits.max_connections_per_source = 2 (another instance): a 3rd
#     connection from 127.0.0.1 is closed before the handshake, 127.0.0.2 is
#     served, and 127.0.0.1 again once one of its own closed; /metrics
#     counts the refusal
#   timeouts.client_idle = 2.0: a kept-alive connection is closed about 2 s
#     after its last response
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

start_origin gms
PROXY_PORT=$(free_port)
make_certs
write_conf limits.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
limits = { max_header_bytes = 2048; max_body_bytes = 1000;
           max_header_fields = 10; max_connections = 4; };
timeouts = { request_header = 1.0; client_idle = 2.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
start_proxy "$CONF"
H=gms.mcx.own.example

cat >"$TMP/raw.py" <<'EOF'
# raw.py PORT SNI CA REQUEST-FILE WAIT META [PIECE PAUSE_MS]: sends the
# file's bytes over TLS (in PIECE-byte pieces PAUSE_MS apart when given),
# reads until the server closes or WAIT seconds pass.  The response goes to
# stdout; META gets "HOW FIRST_MS END_MS" (HOW: eof, reset or open; times
# from the end of the TLS handshake to the first response byte and to the
# end).  One thread: an SSL object is not shared between threads.
import socket, ssl, sys, time
port, host, ca, infile, wait, meta = sys.argv[1:7]
piece = int(sys.argv[7]) if len(sys.argv) > 7 else 0
pause = float(sys.argv[8]) / 1000 if len(sys.argv) > 8 else 0
wait = float(wait)
data = open(infile, "rb").read()
ctx = ssl.create_default_context(cafile=ca)
s = socket.create_connection(("127.0.0.1", int(port)), timeout=wait)
ss = ctx.wrap_socket(s, server_hostname=host)
t0 = time.monotonic()
resp, how, first = b"", "open", None


def read_until(until):
    """Reads until the time until; False once the connection ended."""
    global resp, how, first
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return True
        ss.settimeout(left)
        try:
            d = ss.recv(65536)
        except (socket.timeout, TimeoutError):
            return True
        except ssl.SSLError:
            how = "eof"
            return False
        except (ConnectionResetError, BrokenPipeError):
            how = "reset"
            return False
        if not d:
            how = "eof"
            return False
        if first is None:
            first = time.monotonic()
        resp += d


pieces = [data[i:i + piece] for i in range(0, len(data), piece)] \
    if piece else [data]
alive = True
for p in pieces:
    try:
        ss.settimeout(wait)
        ss.sendall(p)
    except OSError:
        break
    if piece and not read_until(time.monotonic() + pause):
        alive = False
        break
if alive:
    read_until(t0 + wait)
end = time.monotonic()
sys.stdout.buffer.write(resp)
with open(meta, "w") as f:
    f.write("%s %d %d\n" % (how, int(((first or end) - t0) * 1000),
                            int((end - t0) * 1000)))
EOF

# raw NAME WAIT [PIECE PAUSE_MS]: sends $TMP/req; sets STATUS (first line),
# HOW, FIRST_MS, END_MS; the response is in $TMP/NAME.resp.
raw() {
	python3 "$TMP/raw.py" "$PROXY_PORT" "$H" "$PKI/ca.pem" "$TMP/req" "$2" \
	    "$TMP/meta" ${3:+"$3"} ${4:+"$4"} >"$TMP/$1.resp" ||
	    fail "$1: raw client failed"
	STATUS=$(head -n 1 "$TMP/$1.resp" | tr -d '\r')
	read -r HOW FIRST_MS END_MS <"$TMP/meta"
	say "  $1: '$STATUS' $HOW first=${FIRST_MS}ms end=${END_MS}ms"
}

# between VALUE LOW HIGH MSG
between() {
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || fail "$4: $1 ms, expected $2..$3"
}

# body N: N bytes of "a"
body() {
	head -c "$1" /dev/zero | tr '\0' a
}

reqs() {
	origin_request_count gms
}

# ---- max_body_bytes: sized ---------------------------------------------------
{ printf "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"; body 1000; } >"$TMP/req"
raw cl-1000 5
expect_match "$STATUS" '^HTTP/1\.1 200 ' "Content-Length = max_body_bytes"
expect_file_match "$TMP/cl-1000.resp" '^bytes=1000 ' "Content-Length = max_body_bytes: body forwarded"

n0=$(reqs)
{ printf "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 1001\r\n\r\n"; body 1001; } >"$TMP/req"
raw cl-1001 5
expect_match "$STATUS" '^HTTP/1\.1 413 ' "Content-Length over max_body_bytes"
expect_file_match "$TMP/cl-1001.resp" '^Connection: close' "413 closes the connection"
expect_eq "$HOW" eof "413: connection closed"
expect_eq "$(reqs)" "$n0" "413 for Content-Length: nothing forwarded"
# The answer does not wait for the body: only the head is sent here.
printf "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 1000000\r\n\r\n" >"$TMP/req"
raw cl-head 5
expect_match "$STATUS" '^HTTP/1\.1 413 ' "Content-Length 1000000, body not sent"
expect_eq "$(reqs)" "$n0" "413 for Content-Length: nothing forwarded"
say "max_body_bytes, sized: 1000 -> 200, 1001 -> 413, nothing forwarded"

# ---- max_body_bytes: chunked ---------------------------------------------------
{ printf "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3e8\r\n"
  body 1000; printf "\r\n0\r\n\r\n"; } >"$TMP/req"
raw ch-1000 5
expect_match "$STATUS" '^HTTP/1\.1 200 ' "chunked body of max_body_bytes"
expect_file_match "$TMP/ch-1000.resp" '^bytes=1000 ' "chunked body of max_body_bytes: forwarded"

# 1001 bytes in two chunks, and no last chunk: the proxy must not wait.
n200=$(grep -c '"POST /upload HTTP/1.1" 200' "$TMP/origin-gms.log" || true)
{ printf "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"
  body 1000; printf "\r\n1\r\nX\r\n"; } >"$TMP/req"
raw ch-1001 5
expect_match "$STATUS" '^HTTP/1\.1 413 ' "chunked body crossing max_body_bytes"
expect_eq "$HOW" eof "chunked 413: connection closed"
between "$END_MS" 0 3000 "chunked 413: connection closed"
if grep -q 'bytes=' "$TMP/ch-1001.resp"; then
	fail "chunked over the limit: the client got the origin's answer"
fi
expect_eq "$(grep -c '"POST /upload HTTP/1.1" 200' "$TMP/origin-gms.log" || true)" "$n200" \
    "chunked over the limit: uploads the origin completed"
say "max_body_bytes, chunked: 1000 -> 200, crossing -> 413 and close"

# ---- max_header_bytes / max_header_fields ----------------------------------------
n0=$(reqs)
{ printf "GET /conn?"; body 1800; printf " HTTP/1.1\r\nHost: $H\r\nConnection: close\r\n\r\n"; } >"$TMP/req"
raw head-1900 5
expect_match "$STATUS" '^HTTP/1\.1 200 ' "1900-byte head under max_header_bytes 2048"
{ printf "GET /conn?"; body 3000; printf " HTTP/1.1\r\nHost: $H\r\n\r\n"; } >"$TMP/req"
raw long-target 5
expect_match "$STATUS" '^HTTP/1\.1 414 ' "target over max_header_bytes"
expect_eq "$HOW" eof "414: connection closed"
{ printf "GET /conn HTTP/1.1\r\nHost: $H\r\nX-Big: "; body 3000; printf "\r\n\r\n"; } >"$TMP/req"
raw big-field 5
expect_match "$STATUS" '^HTTP/1\.1 431 ' "header field over max_header_bytes"
{ printf "GET /conn HTTP/1.1\r\nHost: $H\r\n"
  for i in 1 2 3 4 5 6 7 8; do printf "X-F%d: " $i; body 290; printf "\r\n"; done
  printf "\r\n"; } >"$TMP/req"
raw many-small 5
expect_match "$STATUS" '^HTTP/1\.1 431 ' "8 fields of 290 bytes over max_header_bytes"
expect_eq "$(reqs)" $((n0 + 1)) "414/431: nothing forwarded"

n0=$(reqs)
{ printf "GET /conn HTTP/1.1\r\nHost: $H\r\nConnection: close\r\n"
  for i in 1 2 3 4 5 6 7 8; do printf "X-F%d: %d\r\n" $i $i; done; printf "\r\n"; } >"$TMP/req"
raw fields-10 5
expect_match "$STATUS" '^HTTP/1\.1 200 ' "10 header fields (max_header_fields = 10)"
{ printf "GET /conn HTTP/1.1\r\nHost: $H\r\nConnection: close\r\n"
  for i in 1 2 3 4 5 6 7 8 9; do printf "X-F%d: %d\r\n" $i $i; done; printf "\r\n"; } >"$TMP/req"
raw fields-11 5
expect_match "$STATUS" '^HTTP/1\.1 431 ' "11 header fields (max_header_fields = 10)"
expect_eq "$HOW" eof "431: connection closed"
expect_eq "$(reqs)" $((n0 + 1)) "431 for too many fields: nothing forwarded"
say "max_header_bytes: 414 / 431; max_header_fields: 10 ok, 11 -> 431"

# ---- request_header timeout ----------------------------------------------------------
n0=$(reqs)
printf "GET /conn HTTP/1.1\r\nHost: $H\r\n" >"$TMP/req"
raw half-head 5
expect_match "$STATUS" '^HTTP/1\.1 408 ' "half a head"
between "$FIRST_MS" 900 2500 "408 for half a head"
expect_eq "$HOW" eof "408: connection closed"
# A slow client: 5 bytes every 200 ms never finishes its 60-byte head in 1 s.
printf "GET /conn HTTP/1.1\r\nHost: $H\r\nX-Slow: abcdefghijklmnopq\r\n\r\n" >"$TMP/req"
raw trickle 5 5 200
expect_match "$STATUS" '^HTTP/1\.1 408 ' "head trickled in 5-byte pieces"
between "$FIRST_MS" 900 2000 "408 for a trickled head"
expect_eq "$(reqs)" "$n0" "408: nothing forwarded"
: >"$TMP/req"
raw silent 5
expect_eq "$STATUS" "" "a connection that sends nothing gets no response"
expect_eq "$HOW" eof "a connection that sends nothing is closed"
between "$END_MS" 900 2500 "close of a connection that sends nothing"
say "request_header: 408 after $FIRST_MS ms; silent connection closed"

# ---- client_idle -----------------------------------------------------------------------
printf "GET /conn HTTP/1.1\r\nHost: $H\r\n\r\n" >"$TMP/req"
raw idle 6
expect_match "$STATUS" '^HTTP/1\.1 200 ' "keep-alive request"
expect_eq "$HOW" eof "kept-alive connection closed when idle"
between $((END_MS - FIRST_MS)) 1800 3500 "client_idle = 2.0: close after the response"
say "client_idle: closed $((END_MS - FIRST_MS)) ms after the response"

# ---- max_connections ---------------------------------------------------------------------
cat >"$TMP/limit.py" <<'EOF'
# limit.py PORT HOST CA N LABEL [OTHER]: holds N served TLS connections
# from 127.0.0.1, checks that one more is refused (prints "LABEL refused"),
# that a connection from OTHER (another source address) is served, and that
# 127.0.0.1 is served again once one of its connections closed.
import socket, ssl, sys, time
port, host, ca, n, label = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
other = sys.argv[6] if len(sys.argv) > 6 else None
ctx = ssl.create_default_context(cafile=ca)

def conn(src="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=3,
                                 source_address=(src, 0))
    return ctx.wrap_socket(s, server_hostname=host)

def get(c):
    c.sendall(b"GET /conn HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
        d = c.recv(65536)
        if not d:
            break
        data += d
    return data.split(b"\r\n", 1)[0].decode()

held = [conn() for _ in range(n)]
for c in held:
    st = get(c)
    if " 200 " not in st:
        sys.exit("held connection: %s" % st)
try:
    extra = conn()
    extra.settimeout(2)
    st = get(extra)
    sys.exit("%s was served: %r" % (label, st))
except (OSError, ssl.SSLError) as e:
    print("%s refused: %s" % (label, e.__class__.__name__))
if other:
    st = get(conn(other))
    if " 200 " not in st:
        sys.exit("%s not served: %s" % (other, st))
    print("%s served: %s" % (other, st))
held.pop().close()
end = time.monotonic() + 2
while True:
    try:
        st = get(conn())
        if " 200 " in st:
            print("after one closed: %s" % st)
            break
    except (OSError, ssl.SSLError) as e:
        st = repr(e)
    if time.monotonic() > end:
        sys.exit("no new connection served after one closed: %s" % st)
    time.sleep(0.05)
EOF
python3 "$TMP/limit.py" "$PROXY_PORT" "$H" "$PKI/ca.pem" 4 "5th connection" >"$TMP/maxconn.out" 2>&1 ||
    fail "max_connections: $(cat "$TMP/maxconn.out")"
expect_file_match "$TMP/maxconn.out" '^5th connection refused' "max_connections = 4"
expect_file_match "$TMP/proxy.log" 'max_connections \(4\) reached' "max_connections logged"
say "max_connections: $(tr '\n' ';' <"$TMP/maxconn.out")"

stop_proxy

# ---- max_connections_per_source --------------------------------------------------------
# Another instance: 2 connections per source address.  127.0.0.1 holds two
# (served); its third is closed before the handshake; 127.0.0.2 is still
# served; once one of 127.0.0.1's closes, it gets a new one.  The refusals
# are counted in /metrics.
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
write_conf persource.conf <<EOF2
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "off"; };
admin = { address = "127.0.0.1:$ADMIN"; };
limits = { max_connections_per_source = 2; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF2
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"
python3 "$TMP/limit.py" "$PROXY_PORT" "$H" "$PKI/ca.pem" 2 "3rd from 127.0.0.1" 127.0.0.2 \
    >"$TMP/persource.out" 2>&1 ||
    fail "max_connections_per_source: $(cat "$TMP/persource.out")"
expect_file_match "$TMP/persource.out" '^3rd from 127.0.0.1 refused' "per source: the 3rd connection"
expect_file_match "$TMP/persource.out" '^127.0.0.2 served' "per source: another address"
expect_file_match "$TMP/persource.out" '^after one closed' "per source: after one closed"
expect_file_match "$TMP/proxy.log" 'max_connections_per_source \(2\) reached' "per-source refusal logged"
refused=$(metric 'mcxproxy_client_connections_refused_total{reason="max_connections_per_source"}')
expect_match "$refused" '^[1-9][0-9]*$' "per-source refusals in /metrics"
say "max_connections_per_source: $(tr '\n' '|' <"$TMP/persource.out")"
stop_proxy

# ---- pipelined requests from a client that does not read --------------------------------
# 20000 pipelined GETs (0.9 MB) sent while no response is read: the proxy
# takes them one at a time and stops reading once IN_HIGH is queued in and
# OUT_HIGH out (the kernel's socket buffers hold the rest), so its resident
# memory barely moves; then the client reads, and every response arrives.
PROXY_PORT=$(free_port)
write_conf pipeline.conf <<EOF2
domain = "mcx.own.example";
workers = 1;
log = { level = "warn"; access = "off"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF2
start_proxy "$CONF"
rss_before=$(awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status")
python3 - "$PROXY_PORT" "$H" "$PKI/ca.pem" "/proc/$PROXY_PID/status" >"$TMP/pipeline.out" 2>&1 <<'EOF' ||
import select, socket, ssl, sys, time
port, host, ca, status = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
N = 20000
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                    server_hostname=host)
one = b"GET /p HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()
s.setblocking(False)
data, sent, peak = one * N, 0, 0
end = time.monotonic() + 20
# Send until the proxy stops taking bytes for a while (it stopped reading).
stalled = 0
while sent < len(data) and time.monotonic() < end:
    try:
        sent += s.send(data[sent:sent + 65536])
        stalled = 0
    except (ssl.SSLWantWriteError, BlockingIOError):
        stalled += 1
        if stalled > 40:
            break
        time.sleep(0.05)
with open(status) as f:
    rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS")][0]
print("sent %d of %d bytes without reading a response; RSS %d KiB" % (sent, len(data), rss))
# Now read: every response comes, in order, while the rest is sent (one
# thread: an SSL object is not shared between threads).
got, buf = 0, b""
t0 = time.monotonic()
end = t0 + 120
while got < N and time.monotonic() < end:
    if sent < len(data):
        try:
            sent += s.send(data[sent:sent + 65536])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            pass
    try:
        d = s.recv(1 << 20)
    except (ssl.SSLWantReadError, BlockingIOError):
        select.select([s], [s] if sent < len(data) else [], [], 0.1)
        continue
    if not d:
        break
    # A match cannot lie wholly in the 14 bytes kept: none counts twice.
    chunk = buf + d
    got += chunk.count(b"HTTP/1.1 200 OK")
    buf = chunk[-14:]
print("responses %d of %d in %.1f s" % (got, N, time.monotonic() - t0))
sys.exit(0 if got == N else 1)
EOF
    fail "pipelining: $(cat "$TMP/pipeline.out")"
say "pipelining: $(tr '\n' ' ' <"$TMP/pipeline.out")"
rss_during=$(sed -n 's/.*RSS \([0-9]*\) KiB.*/\1/p' "$TMP/pipeline.out")
[ "$rss_during" -lt $((rss_before + 16384)) ] ||
    fail "pipelining: RSS grew from $rss_before to $rss_during KiB while the client did not read"
stop_proxy
