#!/bin/sh
# HTTP/2 toward clients (issue 11, item 3: listeners[].alpn, limits.h2).
# An "ue" listener with alpn = ["h2", "http/1.1"] and one with the default
# (["http/1.1"]); HTTP/1.1 origins (tests/tools/origin.py).  Clients: curl
# --http2, nghttp (nghttp2-client) and tests/tools/h2_client.py (raw frames,
# python3-hpack), which reports every answer as JSON.
#   (a) curl --http2 and nghttp: GET (sized, chunked, close-delimited, 1 MiB)
#       and POST (/upload, /echo, with and without content-length, bodies
#       over the stream window) byte-identical to a direct HTTP/1.1 request;
#       HEAD; responses carry no connection-specific or uppercase fields;
#       the origin gets Host from :authority, no pseudo-header, cookie
#       crumbs joined into one Cookie field (RFC 9113 8.2.3); the server's
#       SETTINGS carry limits.h2 (max_concurrent_streams, initial_window)
#   (b) many streams on one connection: nghttp -m 50 (one connection in the
#       access log), h2_client.py 200 requests 64 at a time, all identical
#   (c) ALPN: the default listener makes curl --http2 speak HTTP/1.1 and
#       fails an h2-only client (and nghttp); an HTTP/1.1 request with
#       Upgrade: h2c is served as HTTP/1.1, the Upgrade never forwarded
#   (d) contract section 4 per stream, on one connection: asserted identity
#       403, CSC-1 403 (idm host and OIDC shape), unknown host 421, CONNECT
#       405, Content-Length over max_body_bytes 413 (and a streamed body over
#       it), the limit itself 200, then a good request 200; error bodies are
#       text/plain with a request id that is in the access log with
#       proto=h2; nothing refused reached the origin; a header list over
#       max_header_bytes is not forwarded
#   (e) malformed requests (RFC 9113 8.2-8.3: uppercase or invalid names,
#       CR LF / NUL / leading or trailing space in values, connection-
#       specific fields, TE other than trailers, missing/empty/duplicate/
#       unknown/response pseudo-headers, pseudo after regular, CONNECT with
#       :scheme and :path, Content-Length against DATA): RST_STREAM
#       PROTOCOL_ERROR, nothing at the origin, the connection still serves
#       the next stream
#   (f) defences, each on its own connection, and each time a normal client
#       on another connection served within 5 s while and after it runs:
#       Rapid Reset -> GOAWAY ENHANCE_YOUR_CALM; CONTINUATION flood (empty
#       frames, and frames carrying header fields) -> GOAWAY and close;
#       SETTINGS and PING floods not read -> GOAWAY ENHANCE_YOUR_CALM or
#       close; empty DATA and empty HEADERS floods -> GOAWAY
#       ENHANCE_YOUR_CALM; more streams than max_concurrent_streams -> the
#       excess refused (RST_STREAM REFUSED_STREAM/PROTOCOL_ERROR, or above a
#       GOAWAY's last stream id), never served; 1100 requests on one
#       connection -> graceful GOAWAY NO_ERROR within the budget of 10000,
#       every stream below it answered, then the close; a slow reader (tiny
#       window) stalls nobody else
#   (g) access log proto=h2; /metrics: requests by protocol h2, GOAWAY sent,
#       PROTOCOL_ERROR resets sent, each defence kind triggered above
#   (h) SIGHUP: GOAWAY NO_ERROR, the /slow stream in flight finishes 200,
#       a new connection is served; SIGTERM: GOAWAY at once, the /slow
#       stream in flight finishes 200, the proxy exits 0
#   (i) timeouts.client_idle = 2: an idle HTTP/2 connection gets a GOAWAY
#       and is closed about 2 s after its last answer
# Skipped (77) only when a tool is missing: python3-hpack, curl with HTTP/2,
# nghttp.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- tools ---------------------------------------------------------------------
# h2_client.py needs the hpack module: Debian's /usr/bin/python3 has it (a
# pyenv python3 on PATH usually does not).
H2PY=""
for _py in ${H2_PYTHON:-} /usr/bin/python3 python3; do
	if "$_py" -c 'import hpack' >/dev/null 2>&1; then
		H2PY=$_py
		break
	fi
done
[ -n "$H2PY" ] || skip "no python3 with the hpack module (install python3-h2)"
curl --version | grep -q -w HTTP2 || skip "curl has no HTTP/2 support"
NGHTTP=$(command -v nghttp 2>/dev/null || true)
[ -n "$NGHTTP" ] || skip "nghttp is not installed (nghttp2-client)"

now_ms() {
	date +%s%3N
}

sha() {
	sha256sum "$1" | cut -d ' ' -f 1
}

G=gms.mcx.own.example

# h2 MODE [ARGS...]: tests/tools/h2_client.py toward the h2 listener
# (H2_PORT, default $PROXY_PORT) with the test CA, SNI
# proxy.mcx.own.example; its JSON on stdout.
h2() {
	"$H2PY" "$TOOLS/h2_client.py" --port "${H2_PORT:-$PROXY_PORT}" --ca "$PKI/ca.pem" \
	    --sni proxy.mcx.own.example "$@"
}

# h2run NAME MODE [ARGS...]: h2 MODE ARGS with the JSON in $TMP/NAME.json
# (set as J).
h2run() {
	J=$TMP/$1.json
	shift
	h2 "$@" >"$J" 2>"$J.err" || fail "h2_client.py $*: $(cat "$J.err")"
}

# jv FILE EXPR: the value of the Python expression EXPR over d (the JSON in
# FILE) and s (its streams by id, as strings: s["1"]); lists and dicts as
# JSON, None as "".
jv() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"d": d, "s": d.get("streams", {})})
print("" if v is None else json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
}

# jcheck FILE MSG CODE: runs the Python CODE with d (the JSON in FILE), st
# (its streams by id, as strings), s(N) (stream N) and bad(TEXT); the test
# fails with MSG and every TEXT given to bad, and a digest of the JSON.
jcheck() {
	_out=$(python3 - "$1" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
st = d.get("streams", {})
probs = []
def bad(t):
    probs.append(str(t))
def s(n):
    return st.get(str(n)) or {}
try:
    exec(sys.argv[2], {"d": d, "st": st, "s": s, "bad": bad})
except Exception as e:
    probs.append("check raised %s: %s" % (type(e).__name__, e))
if probs:
    print("; ".join(probs))
    print("[error=%s alpn=%s goaway=%s closed=%s/%s at %s ms write_error=%s stalled=%s "
          "summary=%s frames=%s attack=%s]" % (
              d.get("error"), d.get("alpn"),
              [(g["code_name"], g["last_stream_id"], g["t_ms"]) for g in d.get("goaway", [])],
              d.get("closed_by_peer"), d.get("close_kind"), d.get("closed_ms"),
              d.get("write_error"), d.get("write_stalled"), d.get("summary"),
              d.get("frames_received"), d.get("attack")))
    sys.exit(1)
EOF
) || fail "$2: $_out (${1#"$TMP"/})"
}

SERVED=0
# served_within LABEL: a new client (curl --http2, its own connection) gets
# a 200 over HTTP/2 from gms within 5 s.
served_within() {
	_t0=$(now_ms)
	SERVED=$((SERVED + 1))
	_r=$(curl_ue --http2 --max-time 10 -o /dev/null -w '%{http_code} %{http_version}' \
	    "$(ue_url $G "/served?n=$SERVED")" 2>&1) || true
	_dt=$(($(now_ms) - _t0))
	expect_eq "$_r" "200 2" "$1: a normal client on another connection"
	[ "$_dt" -le 5000 ] || fail "$1: a normal client on another connection waited $_dt ms (bound 5000)"
}

# attack NAME MODE [ARGS...]: h2_client.py MODE ARGS on its own connection in
# the background (JSON in $TMP/NAME.json, set as J); a normal client is
# served while it runs and after it ended.
attack() {
	J=$TMP/$1.json
	_name=$1
	shift
	h2 "$@" >"$J" 2>"$J.err" &
	_apid=$!
	track "$_apid"
	served_within "$_name (while it runs)"
	wait "$_apid" || fail "$_name: h2_client.py $*: $(cat "$J.err")"
	served_within "$_name (after it)"
}

# count_origin REGEX: request lines ("METHOD TARGET") at the gms origin
# matching REGEX (ERE).
count_origin() {
	grep -c -E -- "$1" "$TMP/origin-gms.requests" || true
}

make_certs
start_origin gms
head -c 60000 /dev/urandom >"$TMP/post60k.bin"
head -c 100000 /dev/urandom >"$TMP/post100k.bin"
head -c 300000 /dev/urandom >"$TMP/post300k.bin"
SUM60=$(sha "$TMP/post60k.bin")
SUM100=$(sha "$TMP/post100k.bin")

# ---- the proxy --------------------------------------------------------------------------
PROXY_PORT=$(free_port)
H1_PORT=$(free_port)
ADMIN=$(free_port)
MAXSTREAMS=64
WINDOW=32768
# h2conf NAME EXTRA: the configuration; EXTRA goes at the top level.
h2conf() {
	write_conf "$1" <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
admin = { address = "127.0.0.1:$ADMIN"; };
limits = { max_header_bytes = 16384; max_body_bytes = 100000;
  h2 = { max_concurrent_streams = $MAXSTREAMS; initial_window = $WINDOW; }; };
$2
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT"; alpn = ["h2", "http/1.1"];
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; },
  { role = "ue"; address = "127.0.0.1:$H1_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; },
  { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$H2O_PORT"];
    protocol = "h2"; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
}
# An HTTP/2 origin too (tests/tools/h2_origin.py, h2c): HTTP/2 on both hops.
rm -f "$TMP/h2o.port"
/usr/bin/python3 "$TOOLS/h2_origin.py" --listen 127.0.0.1:0 --ready-file "$TMP/h2o.port" \
    --quiet >"$TMP/h2o.log" 2>&1 &
track $!
wait_file "$TMP/h2o.port" 10 $! || fail "h2_origin.py did not start: $(cat "$TMP/h2o.log")"
H2O_PORT=$(cat "$TMP/h2o.port")
h2conf h2.conf "timeouts = { drain = 15.0; };"
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$H1_PORT" "$ADMIN"

v=$(curl_ue --http2 -o /dev/null -w '%{http_version}' "$(ue_url $G /alpn)" 2>&1) || true
expect_eq "$v" 2 "curl --http2 to the listener with alpn = [\"h2\", \"http/1.1\"] (ALPN h2)"

# ---- (a) GET/POST identical to direct -----------------------------------------------------
# HTTP/2 on both hops: an upstream's trailers reach an HTTP/2 client.
h2run trailers request -a kms.mcx.own.example --path /trailers
jcheck "$J" "(a) trailers from an HTTP/2 origin to an HTTP/2 client" '
if s(1).get("status") != 200: bad("status %s" % s(1).get("status"))
if not any(t[0] == "x-checksum" for t in (s(1).get("trailers") or [])): bad("trailers %r" % s(1).get("trailers"))'
say "(a) HTTP/2 on both hops: trailers $(jv "$J" 's["1"]["trailers"]')"
direct() {
	curl -sS --max-time "$CURL_MAX_TIME" "$@"
}
O="http://127.0.0.1:$ORIGIN_PORT_GMS"
for p in "/bytes?n=1048576" "/bytes?n=300000&chunked=1" "/bytes?n=200000&close=1" "/bytes?n=0"; do
	direct -o "$TMP/direct.out" "$O$p" || fail "direct GET $p"
	rm -f "$TMP/via.out"
	r=$(curl_ue --http2 -D "$TMP/via.h" -o "$TMP/via.out" -w '%{http_code} %{http_version}' \
	    "$(ue_url $G "$p")" 2>&1) || true
	expect_eq "$r" "200 2" "(a) curl --http2 GET $p"
	cmp "$TMP/via.out" "$TMP/direct.out" >/dev/null 2>&1 ||
	    fail "(a) curl --http2 GET $p: $(wc -c <"$TMP/via.out") bytes differ from the direct $(wc -c <"$TMP/direct.out")"
	rm -f "$TMP/via.out"
	timeout 60 "$NGHTTP" -y -t 30 -H ":authority: $G" "https://127.0.0.1:$PROXY_PORT$p" \
	    >"$TMP/via.out" 2>"$TMP/nghttp.err" || true
	cmp "$TMP/via.out" "$TMP/direct.out" >/dev/null 2>&1 ||
	    fail "(a) nghttp GET $p: $(wc -c <"$TMP/via.out") bytes differ from the direct $(wc -c <"$TMP/direct.out"): $(head -c 500 "$TMP/nghttp.err")"
done
# The raw client sees the response fields as sent: lower-case, no
# connection-specific field (RFC 9113 8.2.2), a chunked and a
# close-delimited origin answer included.
for p in "/bytes?n=1000" "/bytes?n=300000&chunked=1" "/bytes?n=200000&close=1" "/status?code=401"; do
	h2run resp request -a $G --path "$p"
	jcheck "$J" "(a) response fields of $p" '
h = s(1).get("headers") or []
if not s(1).get("end_stream"): bad("no complete answer")
for k, v in h:
    if k != k.lower(): bad("uppercase field name %s" % k)
    if k.lower() in ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"):
        bad("connection-specific field %s: %s" % (k, v))
    if k.startswith(":") and k != ":status": bad("pseudo-header %s" % k)
if [k for k, _ in h].count(":status") != 1: bad("one :status wanted")'
	case $p in
	/status*)
		expect_eq "$(jv "$J" 's["1"]["status"]')" 401 "(a) /status?code=401 status"
		expect_match "$(jv "$J" 'dict(s["1"]["headers"]).get("www-authenticate")')" 'Bearer' "(a) WWW-Authenticate relayed"
		;;
	*)
		n=$(echo "$p" | sed 's/^[^=]*=\([0-9]*\).*/\1/')
		want=$(python3 "$TOOLS/origin.py" --emit-bytes "$n" | sha256sum | cut -d ' ' -f 1)
		expect_eq "$(jv "$J" 's["1"]["body_sha256"]')" "$want" "(a) h2_client GET $p: body"
		;;
	esac
done
# The server's SETTINGS: limits.h2.
h2run settings request -a $G --path /settings
expect_eq "$(jv "$J" 'd["peer_settings"].get("MAX_CONCURRENT_STREAMS")')" "$MAXSTREAMS" \
    "(a) SETTINGS_MAX_CONCURRENT_STREAMS (limits.h2.max_concurrent_streams)"
expect_eq "$(jv "$J" 'd["peer_settings"].get("INITIAL_WINDOW_SIZE")')" "$WINDOW" \
    "(a) SETTINGS_INITIAL_WINDOW_SIZE (limits.h2.initial_window)"

# POST: /upload (hash of what the origin got), /echo (the body back).
want=$(direct --data-binary @"$TMP/post60k.bin" "$O/upload")
expect_eq "$want" "bytes=60000 sha256=$SUM60" "direct POST /upload"
r=$(curl_ue --http2 --data-binary @"$TMP/post60k.bin" "$(ue_url $G /upload)" 2>&1) || true
expect_eq "$r" "$want" "(a) curl --http2 POST /upload (60000 bytes, over the $WINDOW-byte stream window)"
rm -f "$TMP/via.out"
r=$(curl_ue --http2 -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/post60k.bin" \
    -o "$TMP/via.out" -w '%{http_code} %{http_version}' "$(ue_url $G /echo)" 2>&1) || true
expect_eq "$r" "200 2" "(a) curl --http2 POST /echo"
cmp "$TMP/via.out" "$TMP/post60k.bin" >/dev/null 2>&1 || fail "(a) curl --http2 POST /echo: the body back differs"
r=$(timeout 60 "$NGHTTP" -y -t 30 -H ":authority: $G" -d "$TMP/post60k.bin" \
    "https://127.0.0.1:$PROXY_PORT/upload" 2>"$TMP/nghttp.err") || true
expect_eq "$r" "$want" "(a) nghttp POST /upload ($(head -c 300 "$TMP/nghttp.err"))"
h2run post-nolen request -a $G --path /upload -X POST --data-file "$TMP/post60k.bin" --no-content-length
expect_eq "$(jv "$J" 's["1"]["body"].strip()')" "$want" "(a) POST without content-length (END_STREAM ends the body)"
h2run post-frames request -a $G --path /upload -X POST --data-file "$TMP/post60k.bin" --data-frame 1000
expect_eq "$(jv "$J" 's["1"]["body"].strip()')" "$want" "(a) POST in 1000-byte DATA frames"
h=$(curl_ue --http2 -sS -I "$(ue_url $G '/bytes?n=1000')" 2>&1) || true
expect_match "$h" '^HTTP/2 200' "(a) HEAD over HTTP/2: status"
expect_match "$h" '^content-length: 1000' "(a) HEAD over HTTP/2: content-length kept"

# What reached the origin: Host from :authority, no pseudo-header, one
# Cookie field from the crumbs, te: trailers accepted.
h2run headers request -a $G --path /headers -H 'cookie: a=1' -H 'x-mid: 1' -H 'cookie: b=2' -H 'te: trailers'
expect_eq "$(jv "$J" 's["1"]["status"]')" 200 "(a) GET /headers with te: trailers and cookie crumbs"
out=$(jv "$J" 's["1"]["body"]')
expect_match "$out" '^GET /headers HTTP/1\.1$' "(a) request line at the origin"
expect_match "$out" "^[Hh]ost: $G\$" "(a) Host from :authority at the origin"
expect_no_match "$out" '^:' "(a) a pseudo-header reached the origin"
expect_eq "$(printf '%s\n' "$out" | grep -c -i '^cookie:')" 1 "(a) cookie crumbs: Cookie fields at the origin"
expect_match "$out" '^[Cc]ookie: a=1; b=2$' "(a) cookie crumbs joined with \"; \" (RFC 9113 8.2.3)"
say "(a) curl --http2 and nghttp: GET (sized, chunked, close-delimited) and POST byte-identical to direct; HEAD; response fields clean; Host from :authority; SETTINGS from limits.h2"

# ---- (b) many streams on one connection ------------------------------------------------------
timeout 60 "$NGHTTP" -nv -y -t 30 -m 50 -H ":authority: $G" "https://127.0.0.1:$PROXY_PORT/m50-conn" \
    >"$TMP/nghttp-m50.out" 2>&1 || true
n=$(grep -c -E 'recv \(stream_id=[0-9]+\) :status: 200' "$TMP/nghttp-m50.out" || true)
expect_eq "$n" 50 "(b) nghttp -m 50: 200 answers"
wait_log "$TMP/proxy.log" 'path="/m50-conn".*proto=h2' 5 || fail "(b) no access line for nghttp's streams"
n=0
until [ "$(grep -c 'path="/m50-conn"' "$TMP/proxy.log")" -ge 50 ]; do
	n=$((n + 1))
	[ "$n" -lt 250 ] || fail "(b) nghttp -m 50: $(grep -c 'path="/m50-conn"' "$TMP/proxy.log") access lines"
	sleep 0.02
done
clients=$(grep 'path="/m50-conn"' "$TMP/proxy.log" | sed -n 's/.* client=\([^ ]*\) .*/\1/p' | sort -u)
expect_match "$clients" '^127\.0\.0\.1:[0-9]+$' "(b) nghttp -m 50: every stream from one client connection"
expect_eq "$(printf '%s\n' "$clients" | wc -l | tr -d ' ')" 1 "(b) nghttp -m 50: client connections in the access log"
want=$(python3 "$TOOLS/origin.py" --emit-bytes 100000 | sha256sum | cut -d ' ' -f 1)
h2run many request -a $G --path '/bytes?n=100000' --count 200 --concurrency 200 --timeout 60
jcheck "$J" "(b) 200 requests on one connection ($MAXSTREAMS at a time)" '
if d["summary"]["status"] != {"200": 200}: bad("statuses %s" % d["summary"]["status"])
if d["goaway"]: bad("GOAWAY")
sums = set(x["body_sha256"] for x in st.values())
if sums != {"'"$want"'"}: bad("bodies differ: %d kinds" % len(sums))'
say "(b) nghttp -m 50 on one connection, 200 requests $MAXSTREAMS at a time: all 200 and identical"

# ---- (c) ALPN on the default listener; Upgrade: h2c ignored -------------------------------------
v=$(curl -sS --max-time "$CURL_MAX_TIME" --http2 --cacert "$PKI/ca.pem" --resolve "*:$H1_PORT:127.0.0.1" \
    -o /dev/null -w '%{http_code} %{http_version}' "https://$G:$H1_PORT/alpn-default" 2>&1) || true
expect_eq "$v" "200 1.1" "(c) curl --http2 to the listener with the default alpn"
J=$TMP/alpn-default.json
H2_PORT=$H1_PORT h2 request -a $G --path /alpn-h2-only >"$J" 2>"$J.err" || fail "(c) h2_client.py: $(cat "$J.err")"
expect_match "$(jv "$J" 'd["error"]')" '^(alpn|handshake)' "(c) an h2-only client toward the default listener"
expect_eq "$(count_origin 'alpn-h2-only')" 0 "(c) the h2-only client's request at the origin"
timeout 30 "$NGHTTP" -y -t 10 -H ":authority: $G" "https://127.0.0.1:$H1_PORT/alpn-nghttp" \
    >"$TMP/nghttp-h1.out" 2>&1 || true
expect_no_match "$(cat "$TMP/nghttp-h1.out")" '^origin gms' "(c) nghttp toward the default listener was served"
expect_eq "$(count_origin 'alpn-nghttp')" 0 "(c) nghttp's request toward the default listener at the origin"
r=$(curl_ue --http1.1 -H 'Connection: Upgrade, HTTP2-Settings' -H 'Upgrade: h2c' \
    -H 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA' -D "$TMP/up.h" -w '\n%{http_code} %{http_version}' \
    "$(ue_url $G /headers)" 2>&1) || true
expect_match "$r" '^200 1\.1$' "(c) HTTP/1.1 request with Upgrade: h2c answered over HTTP/1.1"
expect_no_match "$r" '^(Upgrade|HTTP2-Settings):' "(c) Upgrade: h2c / HTTP2-Settings forwarded"
expect_no_match "$(cat "$TMP/up.h")" '^HTTP/1\.1 101' "(c) a 101 for Upgrade: h2c"
say "(c) default alpn: curl --http2 gets HTTP/1.1, h2-only clients refused; Upgrade: h2c removed"

# ---- (d) contract section 4, stream by stream ----------------------------------------------------
: >"$TMP/origin-gms.requests"
cat >"$TMP/sec4-requests.json" <<EOF
[
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "$G"], [":path", "/s4/identity"],
              ["x-3gpp-asserted-identity", "sip:alice@mcx.own.example"]]},
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "idms.mcx.own.example"], [":path", "/s4/idms"]]},
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "$G"],
              [":path", "/s4/authorize?response_type=code&client_id=x"]]},
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "www.example.com"], [":path", "/s4/unknown"]]},
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "127.0.0.1:$ORIGIN_PORT_GMS"], [":path", "/s4/address"]]},
 {"headers": [[":method", "CONNECT"], [":authority", "$G:443"]]},
 {"headers": [[":method", "POST"], [":scheme", "https"], [":authority", "$G"], [":path", "/s4/too-big"],
              ["content-length", "300000"]], "data_file": "$TMP/post300k.bin"},
 {"headers": [[":method", "POST"], [":scheme", "https"], [":authority", "$G"], [":path", "/upload/s4-limit"],
              ["content-length", "100000"]], "data_file": "$TMP/post100k.bin"},
 {"headers": [[":method", "POST"], [":scheme", "https"], [":authority", "$G"], [":path", "/upload/s4-streamed"]],
  "data_file": "$TMP/post300k.bin"},
 {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", "$G"], [":path", "/s4-after"]]}
]
EOF
h2run sec4 request --requests "$TMP/sec4-requests.json" --concurrency 1 --timeout 30
jcheck "$J" "(d) section 4 on one connection" '
want = {1: 403, 3: 403, 5: 403, 7: 421, 9: 421, 11: 405, 13: 413, 15: 200, 17: 413, 19: 200}
for sid, code in sorted(want.items()):
    if s(sid).get("status") != code:
        bad("stream %d: status %s (rst %s), want %d" % (sid, s(sid).get("status"), s(sid).get("rst"), code))
for sid in (1, 3, 5, 7, 9, 11, 13):
    h = dict(s(sid).get("headers") or [])
    if not h.get("content-type", "").startswith("text/plain"):
        bad("stream %d: content-type %s" % (sid, h.get("content-type")))
    if "request-id:" not in s(sid).get("body", ""):
        bad("stream %d: no request id in the body" % sid)
for sid in (3, 5):
    if "CSC-1" not in s(sid).get("body", ""):
        bad("stream %d: the 403 does not mention CSC-1" % sid)
if not s(15).get("body", "").startswith("bytes=100000 sha256='"$SUM100"'"):
    bad("stream 15 (Content-Length = max_body_bytes): %r" % s(15).get("body"))
if "origin gms: GET /s4-after" not in s(19).get("body", ""):
    bad("stream 19: %r" % s(19).get("body"))
if d["goaway"]: bad("GOAWAY")'
for sid in 1 3 7; do
	id=$(jv "$J" 's["'$sid'"]["body"]' | sed -n 's/^request-id: *//p')
	st=$(jv "$J" 's["'$sid'"]["status"]')
	expect_match "$id" '^[0-9A-Za-z._-]{6,}$' "(d) stream $sid: request id"
	wait_log "$TMP/proxy.log" "^id=$id .*status=$st .*proto=h2" 5 ||
	    fail "(d) stream $sid: no access line with id $id, status $st and proto=h2"
done
wait_log "$TMP/proxy.log" 'path="/s4-after" status=200 .*proto=h2 ' 5 ||
    fail "(d) the access line of /s4-after does not say proto=h2"
expect_eq "$(count_origin '^[A-Z]+ /s4/')" 0 "(d) refused streams at the origin ($(tr '\n' ' ' <"$TMP/origin-gms.requests"))"
# A header list over max_header_bytes (16384): not forwarded.
h2run bighdr request -a $G --path /s4/big-header -H "x-big: $(head -c 20000 /dev/zero | tr '\0' a)"
jcheck "$J" "(d) a header list of 20 KB (max_header_bytes = 16384)" '
if s(1).get("status") not in (None, 431, 400) and not s(1).get("status") == 413:
    bad("status %s" % s(1).get("status"))
if s(1).get("status") is None and not s(1).get("rst") and not d["goaway"]:
    bad("neither an answer nor a reset")'
expect_eq "$(count_origin '/s4/big-header')" 0 "(d) the 20 KB header list at the origin"
say "(d) per stream: 403 identity, 403 CSC-1, 421, 405, 413 (sized and streamed), 200 at the limit; request ids logged with proto=h2; nothing refused forwarded"

# ---- (e) malformed requests: RST_STREAM PROTOCOL_ERROR ---------------------------------------------
mkdir -p "$TMP/mal"
python3 - "$TMP/mal" "$G" <<'EOF'
import json, os, sys
out, A = sys.argv[1], sys.argv[2]
def base(name, method="GET"):
    return [[":method", method], [":scheme", "https"], [":authority", A],
            [":path", "/mal/" + name]]
def without(name, pseudo):
    return [f for f in base(name) if f[0] != pseudo]
cases = {
    "uppercase-name": {"headers": base("uppercase-name") + [["X-Upper", "1"]]},
    "space-in-name": {"headers": base("space-in-name") + [["x bad", "1"]]},
    "colon-in-name": {"headers": base("colon-in-name") + [["x:bad", "1"]]},
    "crlf-in-value": {"headers": base("crlf-in-value") + [["x-a", "b\r\nx-injected: 1"]]},
    "nul-in-value": {"headers": base("nul-in-value") + [["x-a", "b\u0000c"]]},
    "space-before-value": {"headers": base("space-before-value") + [["x-a", " b"]]},
    "space-after-value": {"headers": base("space-after-value") + [["x-a", "b "]]},
    "connection": {"headers": base("connection") + [["connection", "keep-alive"]]},
    "keep-alive": {"headers": base("keep-alive") + [["keep-alive", "timeout=5"]]},
    "proxy-connection": {"headers": base("proxy-connection") + [["proxy-connection", "keep-alive"]]},
    "transfer-encoding": {"headers": base("transfer-encoding", "POST") + [["transfer-encoding", "chunked"]],
                          "data": "5\r\nhello\r\n0\r\n\r\n"},
    "upgrade": {"headers": base("upgrade") + [["upgrade", "h2c"]]},
    "te-gzip": {"headers": base("te-gzip") + [["te", "gzip"]]},
    "te-trailers-gzip": {"headers": base("te-trailers-gzip") + [["te", "trailers, gzip"]]},
    "no-method": {"headers": without("no-method", ":method")},
    "no-scheme": {"headers": without("no-scheme", ":scheme")},
    "no-path": {"headers": without("no-path", ":path")},
    "empty-path": {"headers": [f if f[0] != ":path" else [":path", ""] for f in base("empty-path")]},
    "dup-path": {"headers": base("dup-path") + [[":path", "/mal/dup-path-2"]]},
    "dup-method": {"headers": [[":method", "GET"]] + base("dup-method")},
    "unknown-pseudo": {"headers": base("unknown-pseudo") + [[":foo", "bar"]]},
    "response-pseudo": {"headers": base("response-pseudo") + [[":status", "200"]]},
    "connect-with-path": {"headers": base("connect-with-path", "CONNECT")},
    "pseudo-after-regular": {"headers": base("pseudo-after-regular")[:2] + [["x-a", "b"]] +
                             base("pseudo-after-regular")[2:]},
    "cl-short": {"headers": base("cl-short", "POST") + [["content-length", "10"]], "data": "hello"},
    "cl-long": {"headers": base("cl-long", "POST") + [["content-length", "5"]], "data": "hellohello"},
    "cl-no-data": {"headers": base("cl-no-data", "POST") + [["content-length", "5"]]},
}
for i, (name, req) in enumerate(sorted(cases.items())):
    good = {"headers": [[":method", "GET"], [":scheme", "https"], [":authority", A],
                        [":path", "/mal-good/" + name]]}
    with open(os.path.join(out, "%02d-%s.json" % (i, name)), "w") as f:
        json.dump([req, good], f)
EOF
: >"$TMP/origin-gms.requests"
ncases=0
for f in "$TMP"/mal/*.json; do
	name=$(basename "$f" .json)
	name=${name#*-}
	ncases=$((ncases + 1))
	h2run "mal-$name" request --requests "$f" --concurrency 1
	jcheck "$J" "(e) malformed request $name" '
if s(1).get("rst") != "PROTOCOL_ERROR":
    bad("stream 1: rst %s, status %s (want RST_STREAM PROTOCOL_ERROR)" % (s(1).get("rst"), s(1).get("status")))
if s(1).get("status") is not None: bad("stream 1 answered %s" % s(1).get("status"))
if s(3).get("status") != 200: bad("the next stream on the connection: status %s, rst %s" % (s(3).get("status"), s(3).get("rst")))
if d["goaway"]: bad("GOAWAY (a stream error must not end the connection)")'
done
expect_eq "$(count_origin '^[A-Z]+ /mal/')" 0 "(e) malformed requests at the origin: $(grep '/mal/' "$TMP/origin-gms.requests" | tr '\n' ' ')"
expect_eq "$(count_origin '^GET /mal-good/')" "$ncases" "(e) the good stream after each malformed one at the origin"
say "(e) $ncases malformed requests: RST_STREAM PROTOCOL_ERROR each, none at the origin, the connection goes on"

# ---- (f) defences --------------------------------------------------------------------------------------
attack rapid rapid-reset 5000 -a $G --path /rapid --timeout 20 --no-streams
jcheck "$J" "(f) Rapid Reset (5000 x HEADERS + RST_STREAM)" '
if d["goaway_code"] != "ENHANCE_YOUR_CALM": bad("GOAWAY %s, want ENHANCE_YOUR_CALM" % d["goaway_code"])'
say "(f) Rapid Reset: GOAWAY ENHANCE_YOUR_CALM after $(jv "$J" 'd["attack"]["done"]') pairs"

for fb in 0 100; do
	attack "cont-$fb" continuation-flood 10000 --frame-bytes $fb -a $G --path /cont --timeout 20 --no-streams
	jcheck "$J" "(f) CONTINUATION flood (10000 frames of $fb bytes)" '
if not d["goaway"]: bad("no GOAWAY")
if not d["closed_by_peer"] and not d["write_error"]: bad("the connection stays open")'
	say "(f) CONTINUATION flood ($fb-byte frames): GOAWAY $(jv "$J" 'd["goaway_code"]') after $(jv "$J" 'd["attack"]["done"]') frames, closed"
done
expect_eq "$(count_origin '/cont')" 0 "(f) the CONTINUATION floods' request at the origin"

for m in settings ping; do
	attack "$m-flood" "$m-flood" 100000 --rcvbuf 4096 --timeout 30 --no-streams
	jcheck "$J" "(f) $m flood (100000 frames, ACKs not read)" '
if d["goaway_code"] != "ENHANCE_YOUR_CALM" and not d["closed_by_peer"] and not d["write_error"]:
    bad("neither GOAWAY ENHANCE_YOUR_CALM nor a close (goaway %s)" % d["goaway_code"])
if d["goaway_code"] not in (None, "ENHANCE_YOUR_CALM"): bad("GOAWAY %s" % d["goaway_code"])'
	say "(f) $m flood: GOAWAY $(jv "$J" 'd["goaway_code"]'), closed $(jv "$J" 'd["close_kind"] or d["write_error"]') after $(jv "$J" 'd["attack"]["done"]') frames"
done

attack empty-data empty-data-flood 20000 -a $G --path /upload/empty-data --timeout 20 --no-streams
jcheck "$J" "(f) empty DATA flood (20000)" '
if d["goaway_code"] != "ENHANCE_YOUR_CALM": bad("GOAWAY %s, want ENHANCE_YOUR_CALM" % d["goaway_code"])'
for v in streams continuation; do
	attack "empty-headers-$v" empty-headers-flood 5000 --variant $v --timeout 20 --no-streams
	# Each empty HEADERS opens a stream that nghttp2 resets; a client
	# that sends faster than the resets come back may first pass
	# max_concurrent_streams (GOAWAY PROTOCOL_ERROR): either ends it.
	jcheck "$J" "(f) empty HEADERS flood (5000, $v)" '
ok = ("ENHANCE_YOUR_CALM", "PROTOCOL_ERROR") if "'"$v"'" == "streams" else ("ENHANCE_YOUR_CALM",)
if d["goaway_code"] not in ok: bad("GOAWAY %s, want %s" % (d["goaway_code"], " or ".join(ok)))'
done
say "(f) empty DATA and empty HEADERS floods: GOAWAY ENHANCE_YOUR_CALM"

# More streams at once than max_concurrent_streams: each request takes 1.5 s
# (END_STREAM sent: half-closed streams count), the excess must be refused.
: >"$TMP/origin-gms.requests"
attack too-many too-many-streams $((MAXSTREAMS + 16)) --end-stream -a $G --path '/slow?ms=1500&tm=1' \
    --hold 6 --timeout 20
jcheck "$J" "(f) $((MAXSTREAMS + 16)) streams at once (max_concurrent_streams = $MAXSTREAMS)" '
m = '"$MAXSTREAMS"'
sids = sorted(int(k) for k, x in st.items() if x["request"] is not None)
first, excess = sids[:m], sids[m:]
if len(excess) != 16: bad("%d streams opened" % len(sids))
for sid in excess:
    x = s(sid)
    if x["status"] is not None: bad("excess stream %d served: %s" % (sid, x["status"]))
    if x["rst"] not in ("REFUSED_STREAM", "PROTOCOL_ERROR") and not x["unprocessed"]:
        bad("excess stream %d neither reset nor above a GOAWAY (rst %s)" % (sid, x["rst"]))
for sid in first:
    if s(sid)["rst"] == "REFUSED_STREAM": bad("stream %d (within the limit) refused" % sid)
    if not d["goaway"] and s(sid)["status"] != 200:
        bad("stream %d (within the limit): status %s, rst %s" % (sid, s(sid)["status"], s(sid)["rst"]))'
n=$(count_origin 'tm=1')
[ "$n" -le "$MAXSTREAMS" ] || fail "(f) $n of the $((MAXSTREAMS + 16)) streams reached the origin (max_concurrent_streams = $MAXSTREAMS)"
say "(f) $((MAXSTREAMS + 16)) streams at once: the excess refused ($(jv "$J" 'd["rst_counts"]'), GOAWAY $(jv "$J" 'd["goaway_code"]')), $n at the origin"

# The budget of 10000 streams per connection: a graceful GOAWAY, the streams
# below its last stream id answered, then the close.  The requests name a
# host the proxy does not serve (421 from the proxy itself), so that ten
# thousand of them are quick.
attack budget request --count 10100 --concurrency 32 -a nope.example --path /budget --linger 5 --timeout 120 --no-streams
jcheck "$J" "(f) 10100 requests on one connection (budget 10000)" '
codes = [g["code_name"] for g in d["goaway"]]
if not codes: bad("no GOAWAY")
elif set(codes) != {"NO_ERROR"}: bad("GOAWAY codes %s, want NO_ERROR" % codes)
sm = d["summary"]
if sm["answered"] > 10000: bad("%d streams answered on one connection" % sm["answered"])
if sm["answered"] < 9900: bad("only %d streams answered" % sm["answered"])
if sm["unanswered"]: bad("%d streams below the last stream id never answered" % sm["unanswered"])
if set(sm["status"]) != {"421"}: bad("statuses %s" % sm["status"])
if d["goaway"] and d["goaway"][-1]["last_stream_id"] > 19999: bad("last stream id %d" % d["goaway"][-1]["last_stream_id"])
if not d["closed_by_peer"]: bad("the connection stays open after the GOAWAY")'
say "(f) stream budget: GOAWAY NO_ERROR after $(jv "$J" 'd["summary"]["answered"]') answered streams, then closed"

# A slow reader (1 KiB window, 1 KiB more every 0.2 s) does not hold others up.
J=$TMP/slow-read.json
h2 slow-read -a $G --path '/bytes?n=4194304' --window 1024 --step 1024 --interval 0.2 --timeout 8 \
    >"$J" 2>"$J.err" &
slow_pid=$!
track "$slow_pid"
served_within "slow reader"
want=$(python3 "$TOOLS/origin.py" --emit-bytes 1048576 | sha256sum | cut -d ' ' -f 1)
t0=$(now_ms)
r=$(curl_ue --http2 --max-time 10 -o "$TMP/beside-slow.out" -w '%{http_code}' "$(ue_url $G '/bytes?n=1048576')" 2>&1) || true
dt=$(($(now_ms) - t0))
expect_eq "$r" 200 "(f) 1 MiB beside the slow reader"
expect_eq "$(sha "$TMP/beside-slow.out")" "$want" "(f) 1 MiB beside the slow reader: body"
[ "$dt" -le 5000 ] || fail "(f) 1 MiB beside the slow reader took $dt ms"
wait "$slow_pid" || fail "(f) slow-read: $(cat "$J.err")"
jcheck "$J" "(f) the slow reader" '
if s(1).get("status") != 200: bad("status %s" % s(1).get("status"))
if not 0 < s(1).get("body_len", 0) < 4194304: bad("%s bytes read" % s(1).get("body_len"))'
served_within "after the slow reader"
say "(f) slow reader ($(jv "$J" 's["1"]["body_len"]') bytes in 8 s): 1 MiB beside it in $dt ms"

# ---- (g) access log, /metrics ------------------------------------------------------------------------
expect_file_match "$TMP/proxy.log" 'path="/upload" status=200 .* proto=h2 up_proto=http/1\.1$' "(g) access line of an HTTP/2 POST"
curl -sS --max-time 10 "http://127.0.0.1:$ADMIN/metrics" >"$TMP/metrics.txt" || fail "(g) cannot read /metrics"
positive() {
	_v=$(awk -v k="$1" '$1 == k { print $2 }' "$TMP/metrics.txt")
	if [ -z "$_v" ] || [ "$(printf '%.0f' "$_v")" -le 0 ]; then
		fail "(g) $1 is '${_v:-absent}', want > 0"
	fi
}
positive 'mcxproxy_requests_by_protocol_total{protocol="h2"}'
positive 'mcxproxy_h2_goaway_total{side="client",direction="sent"}'
positive 'mcxproxy_h2_stream_resets_total{side="client",direction="sent",code="PROTOCOL_ERROR"}'
for k in continuation settings ping empty_frames streams_total; do
	positive "mcxproxy_h2_defences_total{kind=\"$k\"}"
done
rr=$(awk '$1 == "mcxproxy_h2_defences_total{kind=\"rapid_reset\"}" || $1 == "mcxproxy_h2_defences_total{kind=\"stream_budget\"}" { s += $2 } END { print s + 0 }' "$TMP/metrics.txt")
[ "$rr" -gt 0 ] || fail "(g) mcxproxy_h2_defences_total rapid_reset + stream_budget is $rr after the Rapid Reset"
say "(g) /metrics: $(grep -E '^mcxproxy_(h2_defences_total|requests_by_protocol_total|h2_goaway_total\{side="client")' "$TMP/metrics.txt" | tr '\n' ' ')"

# ---- (h) SIGHUP: GOAWAY, the stream in flight finishes, new connections served ---------------------------
J=$TMP/reload.json
h2 request -a $G --path '/slow?ms=2500&reload=1' --timeout 20 >"$J" 2>"$J.err" &
reload_pid=$!
track "$reload_pid"
wait_log "$TMP/origin-gms.requests" '^GET /slow\?ms=2500&reload=1' 10 || fail "(h) the slow request did not reach the origin"
signal_proxy HUP
wait_log "$TMP/proxy.log" 'every worker serves generation 2' 10 || fail "(h) reload not applied: $(tail -5 "$TMP/proxy.log")"
wait "$reload_pid" || fail "(h) h2_client.py: $(cat "$J.err")"
jcheck "$J" "(h) SIGHUP with a stream in flight" '
if not d["goaway"]: bad("no GOAWAY after the reload")
elif d["goaway"][0]["code_name"] != "NO_ERROR": bad("GOAWAY %s" % d["goaway"][0]["code_name"])
if d["goaway"] and d["goaway"][-1]["last_stream_id"] < 1: bad("last stream id %d drops stream 1" % d["goaway"][-1]["last_stream_id"])
if s(1).get("status") != 200 or not s(1).get("end_stream"): bad("stream 1: status %s, rst %s" % (s(1).get("status"), s(1).get("rst")))
if not s(1).get("body", "").startswith("slept 2500 ms"): bad("stream 1: body %r" % s(1).get("body"))'
served_within "after the reload"
say "(h) SIGHUP: GOAWAY NO_ERROR, the /slow stream finished 200, new connections served"

# ---- (h) SIGTERM: GOAWAY, the stream in flight finishes ---------------------------------------------------
J=$TMP/drain.json
h2 request -a $G --path '/slow?ms=2500&drain=1' --timeout 20 >"$J" 2>"$J.err" &
drain_pid=$!
track "$drain_pid"
wait_log "$TMP/origin-gms.requests" '^GET /slow\?ms=2500&drain=1' 10 || fail "(h) the slow request did not reach the origin"
t0=$(now_ms)
stop_proxy 20
dt=$(($(now_ms) - t0))
wait "$drain_pid" || fail "(h) h2_client.py: $(cat "$J.err")"
jcheck "$J" "(h) SIGTERM with a stream in flight" '
if not d["goaway"]: bad("no GOAWAY")
elif d["goaway"][0]["code_name"] != "NO_ERROR": bad("GOAWAY %s" % d["goaway"][0]["code_name"])
elif s(1).get("done_ms") is not None and d["goaway"][0]["t_ms"] > s(1)["done_ms"]:
    bad("the GOAWAY came after the answer (%d > %d ms)" % (d["goaway"][0]["t_ms"], s(1)["done_ms"]))
if d["goaway"] and d["goaway"][-1]["last_stream_id"] < 1: bad("last stream id %d drops stream 1" % d["goaway"][-1]["last_stream_id"])
if s(1).get("status") != 200 or not s(1).get("end_stream"): bad("stream 1: status %s, rst %s" % (s(1).get("status"), s(1).get("rst")))
if not s(1).get("body", "").startswith("slept 2500 ms"): bad("stream 1: body %r" % s(1).get("body"))'
say "(h) SIGTERM: GOAWAY NO_ERROR at once, the /slow stream finished 200, exit 0 after $dt ms"

# ---- (i) client_idle ----------------------------------------------------------------------------------------
h2conf idle.conf "timeouts = { client_idle = 2.0; };"
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$H1_PORT" "$ADMIN"
h2run idle request -a $G --path /idle --linger 8 --timeout 15
jcheck "$J" "(i) an idle HTTP/2 connection (client_idle = 2.0)" '
if s(1).get("status") != 200: bad("status %s" % s(1).get("status"))
if not d["goaway"]: bad("no GOAWAY before the close")
if not d["closed_by_peer"]: bad("still open 8 s after the answer")
else:
    idle = d["closed_ms"] - s(1)["done_ms"]
    if not 1500 <= idle <= 5000: bad("closed %d ms after the answer (client_idle = 2.0)" % idle)
    if d["goaway"] and d["goaway"][0]["t_ms"] - s(1)["done_ms"] < 1500:
        bad("GOAWAY %d ms after the answer" % (d["goaway"][0]["t_ms"] - s(1)["done_ms"]))'
say "(i) client_idle = 2.0: GOAWAY $(jv "$J" 'd["goaway_code"]') and close $(jv "$J" 'd["closed_ms"] - s["1"]["done_ms"]') ms after the answer"
stop_proxy 10
