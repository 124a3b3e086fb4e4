#!/bin/sh
# Header rewriting (contract section 4, forwarding rules; R14, R24): hop-by-
# hop fields removed both ways, Via added both ways, Authorization passed
# byte-identical, X-Forwarded-For / Forwarded per headers.forwarded, and an
# upstream 401 with its WWW-Authenticate relayed unchanged.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

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
