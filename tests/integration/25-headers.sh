#!/bin/sh
# Header rewriting (contract section 4, forwarding rules; R14, R24): hop-by-
# hop fields removed both ways, Via added both ways, Authorization passed
# byte-identical, X-Forwarded-For / Forwarded per headers.forwarded, and an
# upstream 401 with its WWW-Authenticate relayed unchanged.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- a raw HTTP/1.1 client (lib.sh has none) ----------------------------------
# write_h1c: writes $TMP/h1c.py.  h1c [options] sends stdin to the ue listener
# (H1C_PORT, default $PROXY_PORT) over TLS (--plain: TCP): all at once, or,
# when stdin has NUL bytes, part by part, each after the previous response.
# It parses the responses to --methods M1,M2,... and prints "N:STATUS line",
# "N:H field", "N:B body line", "N:BYTES n" per response, "TRUNCATED" when
# the stream ended early, with --wait-eof "EXTRA n ..." for bytes after the
# last response, and always "EOF clean|ragged|reset|timeout|not-waited"
# (clean: TLS close_notify, or FIN with --plain; ragged: FIN without
# close_notify).  Bounded by --timeout (default 10 s).
write_h1c() {
	cat >"$TMP/h1c.py" <<'PYEOF'
# h1c.py: raw HTTP/1.1 client for the tests.  Sends stdin in one write over
# TLS (default) or TCP; when stdin has NUL bytes, sends the part before the
# first NUL, then each next part only after the previous response arrived.
# Parses the responses to the given methods and
# prints them as lines "N:STATUS <status line>", "N:H <field line>",
# "N:B <body line>", "N:BYTES <n>", then "EXTRA <n>" and "EOF <how>".
import argparse, socket, ssl, sys, time
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
PYEOF
}
h1c() {
	[ -f "$TMP/h1c.py" ] || write_h1c
	python3 "$TMP/h1c.py" "${H1C_PORT:-$PROXY_PORT}" --cafile "$PKI/ca.pem" "$@" 2>&1 || true
}
# ---- end of the raw client ----

# start_hop_origin: an origin whose every response carries hop-by-hop fields
# (origin.py sends none but Connection).  Sets HOP_PORT.
start_hop_origin() {
	cat >"$TMP/hop.py" <<'PYEOF'
import socket, socketserver, sys
BODY = b"hop body\n"
RESP = (b"HTTP/1.1 200 OK\r\n"
        b"Connection: X-Bar\r\n"
        b"Connection: x-baz\r\n"
        b"X-Bar: secret-bar\r\n"
        b"X-BAZ: secret-baz\r\n"
        b"Keep-Alive: timeout=5, max=100\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"Proxy-Authenticate: Basic realm=\"hop\"\r\n"
        b"Upgrade: h2c\r\n"
        b"X-End-To-End: kept\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n%s") % (len(BODY), BODY)
class H(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            while line not in (b"\r\n", b"\n", b""):
                line = self.rfile.readline(65536)
            self.wfile.write(RESP)
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
srv = S(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
import os
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
PYEOF
	python3 "$TMP/hop.py" "$TMP/hop.port" >"$TMP/origin-hop.log" 2>&1 &
	track $!
	wait_file "$TMP/hop.port" 10 $! || fail "hop origin did not start"
	HOP_PORT=$(cat "$TMP/hop.port")
}

# hdr_conf NAME FORWARDED: a configuration with the gms and hop origins, on a
# new PROXY_PORT; FORWARDED is the headers.forwarded value ("" = no headers group).
hdr_conf() {
	PROXY_PORT=$(free_port)
	_hdrs=""
	[ -z "$2" ] || _hdrs="headers = { forwarded = \"$2\"; };"
	write_conf "$1" <<CONFEOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
$_hdrs
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; },
  { name = "hop"; hosts = ["hop.mcx.own.example"]; targets = ["127.0.0.1:$HOP_PORT"]; }
);
CONFEOF
}

# lines OUT PREFIX FIELD: the values of FIELD (any case) in the "PREFIX" lines of OUT, one a line.
lines() {
	printf '%s\n' "$1" | sed -n "s/^$2$3: *//Ip"
}

make_certs
start_origin gms
start_hop_origin
G=gms.mcx.own.example

# ---- hop-by-hop fields of the request; Via; Authorization -------------------------------------
hdr_conf off.conf ""
start_proxy "$CONF"
say "request rewriting (headers.forwarded unset: off)"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" \
    "Connection: X-FOO" "Connection: x-baz" "x-foo: 1" "X-Baz: 2" \
    "Keep-Alive: timeout=5" "Proxy-Connection: keep-alive" "TE: trailers" \
    "Upgrade: websocket" "Proxy-Authorization: Basic dXNlcjpwYXNz" \
    "Authorization: Bearer abc" "X-End-To-End: kept" "" | h1c --methods GET)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "status of GET /headers"
expect_match "$out" '^1:B GET /headers HTTP/1\.1$' "request line at the origin"
for f in Connection X-Foo X-Baz Keep-Alive Proxy-Connection TE Upgrade Proxy-Authorization; do
	expect_no_match "$out" "^1:B $f:" "hop-by-hop field $f at the origin"
done
expect_no_match "$out" '^1:B [^:]*: *(Basic dXNlcjpwYXNz|websocket|trailers)$' "hop-by-hop values at the origin"
expect_match "$out" '^1:B X-End-To-End: kept$' "end-to-end field kept"
expect_match "$out" '^1:B Authorization: Bearer abc$' "Authorization byte-identical"
expect_eq "$(lines "$out" '1:B ' Authorization | wc -l | tr -d ' ')" 1 "one Authorization field"
expect_match "$out" '^1:B Via: 1\.1 mcxproxy$' "Via added toward the origin"
expect_eq "$(lines "$out" '1:B ' Via | wc -l | tr -d ' ')" 1 "one Via field toward the origin"
expect_no_match "$out" '^1:B (X-Forwarded-For|Forwarded):' "forwarded off: neither field added"

say "response rewriting"
expect_match "$out" '^1:H Via: 1\.1 mcxproxy$' "Via on the response (origin.py)"
out=$(printf '%s\r\n' "GET /hop HTTP/1.1" "Host: hop.mcx.own.example" "" | h1c --methods GET)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "status from the hop origin"
expect_match "$out" '^1:B hop body$' "body from the hop origin"
expect_match "$out" '^1:H X-End-To-End: kept$' "end-to-end response field kept"
expect_match "$out" '^1:H Via: 1\.1 mcxproxy$' "Via on the response"
for f in Connection X-Bar X-Baz Keep-Alive Proxy-Connection Proxy-Authenticate Upgrade; do
	expect_no_match "$out" "^1:H $f:" "hop-by-hop field $f in the response"
done

say "upstream 401 relayed"
code=$(curl_code -D "$TMP/h401" "$(ue_url $G '/status?code=401')")
expect_eq "$code" 401 "status of /status?code=401"
expect_file_match "$TMP/h401" '^WWW-Authenticate: Bearer error="invalid_token"'"$(printf '\r')"'$' \
    "WWW-Authenticate unchanged"
expect_eq "$(cat "$TMP/body")" "status 401" "401 body"
stop_proxy 10

# ---- headers.forwarded ------------------------------------------------------------------------------
hdr_conf xff.conf x-forwarded-for
start_proxy "$CONF"
say "forwarded = x-forwarded-for"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" "" | h1c --methods GET)
expect_eq "$(lines "$out" '1:B ' X-Forwarded-For)" "127.0.0.1" "X-Forwarded-For added"
expect_no_match "$out" '^1:B Forwarded:' "x-forwarded-for: no Forwarded field"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" "X-Forwarded-For: 192.0.2.7" "" |
    h1c --methods GET)
xff=$(lines "$out" '1:B ' X-Forwarded-For | paste -s -d, - | sed 's/, */, /g')
expect_eq "$xff" "192.0.2.7, 127.0.0.1" "client X-Forwarded-For kept, proxy's address appended"
stop_proxy 10

hdr_conf fwd.conf forwarded
start_proxy "$CONF"
say "forwarded = forwarded"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" "" | h1c --methods GET)
expect_eq "$(lines "$out" '1:B ' Forwarded)" "for=127.0.0.1;proto=https" "Forwarded added"
expect_no_match "$out" '^1:B X-Forwarded-For:' "forwarded: no X-Forwarded-For field"
stop_proxy 10

hdr_conf both.conf both
start_proxy "$CONF"
say "forwarded = both"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" "" | h1c --methods GET)
expect_eq "$(lines "$out" '1:B ' X-Forwarded-For)" "127.0.0.1" "both: X-Forwarded-For"
expect_eq "$(lines "$out" '1:B ' Forwarded)" "for=127.0.0.1;proto=https" "both: Forwarded"
stop_proxy 10

hdr_conf offx.conf off
start_proxy "$CONF"
say "forwarded = off"
out=$(printf '%s\r\n' "GET /headers HTTP/1.1" "Host: $G" "" | h1c --methods GET)
expect_match "$out" '^1:B Via: 1\.1 mcxproxy$' "off: request forwarded"
expect_no_match "$out" '^1:B (X-Forwarded-For|Forwarded):' "off: neither field added"
