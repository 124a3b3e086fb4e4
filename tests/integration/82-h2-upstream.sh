#!/bin/sh
# HTTP/2 toward own servers (issue 11; servers[].protocol = "h2", pool.max_streams,
# ping_interval, idle_timeout).  Clients speak HTTP/1.1 over TLS to the proxy;
# upstream is tests/tools/h2_origin.py (python3-h2: h2c prior knowledge, or TLS
# with ALPN h2), nghttpd and nginx.
#   (a) GET/POST to an h2c and an h2-over-TLS origin: bodies byte-identical to a
#       direct HTTP/2 request (sized, unsized, with trailers, after a 103);
#       103 and trailers passed on; the request's hop-by-hop fields never reach
#       the origin, Host became :authority, a chunked HTTP/1.1 body arrives
#       whole (sha256)
#   (b) multiplexing: 200 concurrent clients, /slow?ms=1500, max_streams = 50:
#       <= ceil(200/50) upstream connections per worker, <= 50 streams on one,
#       all 200 answered; with workers = 1 and workers = 2
#   (c) GOAWAY(last K): streams above K (a POST too) retried once on another
#       connection, every client 200
#   (d) RST_STREAM REFUSED_STREAM: retried once on another connection (200);
#       refused every time: 502 after exactly 2 attempts
#   (e) malformed responses (uppercase name, pseudo-headers, connection-
#       specific fields, Content-Length vs DATA, bad :status, CR LF in a
#       value): 502, nothing of them forwarded
#   (f) upstream_response = 1 with /hang: 504 in about 1 s, RST_STREAM CANCEL
#       (8) at the origin, another stream on the same connection unharmed
#   (g) protocol = "h2" toward a TLS server that does not select h2, and
#       toward a TLS server without tls enabled: 502, no request reaches it
#   (h) real servers: nghttpd and nginx (h2c and TLS): a 1 MiB file through
#       the proxy is byte-identical
#   (j) pool.ping_interval = 1 with PINGs unanswered: the connection is closed
#       and the next request gets a new one; pool.idle_timeout = 1: an idle
#       connection is closed
#   (i) /metrics lines about h2 and upstreams are printed (no assertion yet)
#   (k) the multiplexing figure: 1,000 concurrent TLS client connections
#       (tests/tools/mux_clients.py), one GET /slow each, all in flight at
#       once, max_streams = 100: every answer 200 and byte-identical to a
#       direct request's; <= ceil(in-flight / 100) upstream connections per
#       worker (origin /stats, the h2 connection gauge of /metrics, and per
#       worker from the access log's request ids), <= 100 streams on one,
#       the /metrics stream gauge's peak at the in-flight count; workers = 1
#       and workers = 2.  Skipped (with a message, the rest still runs) when
#       the open files limit cannot be raised to 1,300.
# And at the end: no h2 origin saw a request that breaks RFC 9113 (its
# VIOLATION lines: uppercase or connection-specific fields, TE other than
# trailers, pseudo-headers, Content-Length vs DATA, streams beyond
# SETTINGS_MAX_CONCURRENT_STREAMS).
# Skipped (77) only when a tool is missing: python3-h2, curl with HTTP/2,
# nghttpd (nghttp2-server), nginx.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# ---- tools ---------------------------------------------------------------------
# h2_origin.py needs the h2 module: Debian's /usr/bin/python3 has it (a pyenv
# python3 on PATH usually does not).
H2PY=""
for _py in ${H2_PYTHON:-} /usr/bin/python3 python3; do
	if "$_py" -c 'import h2, hpack' >/dev/null 2>&1; then
		H2PY=$_py
		break
	fi
done
[ -n "$H2PY" ] || skip "no python3 with the h2 module (install python3-h2)"
curl --version | grep -q -w HTTP2 || skip "curl has no HTTP/2 support"
NGHTTPD=$(command -v nghttpd 2>/dev/null || echo /usr/sbin/nghttpd)
[ -x "$NGHTTPD" ] || skip "nghttpd is not installed (nghttp2-server)"
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "nginx is not installed"

now_ms() {
	date +%s%3N
}

# start_h2 NAME [h2_origin.py options...]: starts tests/tools/h2_origin.py as
# NAME; sets H2_PORT_<NAME> (upper-cased, '-' as '_').  Its request and event
# lines go to $TMP/h2origin-NAME.requests ("CONN STREAM METHOD PATH", "RST
# stream S code C conn N", ...; see h2_origin.py).
start_h2() {
	_name=$1
	shift
	_rf=$TMP/h2origin-$_name.port
	rm -f "$_rf"
	"$H2PY" "$TOOLS/h2_origin.py" --name "$_name" --ready-file "$_rf" \
	    --log "$TMP/h2origin-$_name.requests" --quiet "$@" \
	    >"$TMP/h2origin-$_name.log" 2>&1 &
	_pid=$!
	track "$_pid"
	wait_file "$_rf" 10 "$_pid" ||
	    fail "h2 origin $_name did not start: $(cat "$TMP/h2origin-$_name.log")"
	_var=$(echo "$_name" | tr 'a-z-' 'A-Z_')
	eval "H2_PORT_$_var=\$(cat \"\$_rf\")"
	say "h2 origin $_name on port $(cat "$_rf") $*"
}

# h2log NAME: the file of h2 origin NAME's lines.
h2log() {
	echo "$TMP/h2origin-$1.requests"
}

# attempts NAME PATH: "CONN STREAM" of each request for exactly PATH at h2
# origin NAME, one a line, in arrival order.
attempts() {
	awk -v p="$2" '$1 ~ /^[0-9]+$/ && $4 == p { print $1, $2 }' "$(h2log "$1")"
}

# count_requests NAME REGEX: request lines of h2 origin NAME whose path
# matches REGEX (ERE).
count_requests() {
	awk -v re="$2" '$1 ~ /^[0-9]+$/ && $4 ~ re { n++ } END { print n + 0 }' "$(h2log "$1")"
}

# wait_requests NAME REGEX N [SECONDS]: until N request lines match.
wait_requests() {
	_n=$(( ${4:-10} * 50 ))
	while [ "$(count_requests "$1" "$2")" -lt "$3" ]; do
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || return 1
		sleep 0.02
	done
}

# direct_h2c PORT PATH [curl args]: curl with HTTP/2 prior knowledge,
# straight to an origin.
direct_h2c() {
	_port=$1
	_path=$2
	shift 2
	curl -sS --max-time "$CURL_MAX_TIME" --http2-prior-knowledge "$@" \
	    "http://127.0.0.1:$_port$_path"
}

# direct_h2tls PORT PATH [curl args]: curl over TLS with ALPN h2, straight
# to an origin with the test PKI's origin.mcx.own.example certificate.
direct_h2tls() {
	_port=$1
	_path=$2
	shift 2
	curl -sS --max-time "$CURL_MAX_TIME" --http2 --cacert "$PKI/ca.pem" \
	    --resolve "origin.mcx.own.example:$_port:127.0.0.1" "$@" \
	    "https://origin.mcx.own.example:$_port$_path"
}

# h2_stat PORT KEY: KEY of the /stats JSON of the h2c origin on PORT (empty
# on error).
h2_stat() {
	direct_h2c "$1" /stats 2>/dev/null |
	    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2" 2>/dev/null || true
}

# get NAME PATH [curl args]: a request through the proxy to
# NAME.mcx.own.example; sets CODE and BODY; headers in $TMP/h, body in $TMP/b.
get() {
	_h=$1
	_p=$2
	shift 2
	rm -f "$TMP/h" "$TMP/b"
	CODE=$(curl_ue -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" \
	    "$(ue_url "$_h.mcx.own.example" "$_p")" 2>"$TMP/curl.err" || true)
	BODY=$(cat "$TMP/b" 2>/dev/null || true)
}

# same_as_direct MSG DIRECT-FILE: $TMP/b must equal DIRECT-FILE.
same_as_direct() {
	cmp "$TMP/b" "$2" >/dev/null 2>&1 ||
	    fail "$1: body through the proxy ($(wc -c <"$TMP/b" 2>/dev/null || echo no) bytes) differs from the direct HTTP/2 request ($(wc -c <"$2") bytes)"
}

sha() {
	sha256sum "$1" | cut -d ' ' -f 1
}

# check_echo FILE METHOD LENGTH SHA256 AUTHORITY-HOST MSG: the /echo JSON
# in FILE says what reached the origin: METHOD, the body (LENGTH bytes,
# SHA256), :authority is AUTHORITY-HOST (":port" allowed), no Host field, no
# hop-by-hop field (nor X-Hop, which the request's Connection named), TE only
# "trailers", X-End-To-End kept when the request had it, and no RFC 9113
# violation seen by the origin.
check_echo() {
	_out=$(python3 - "$@" <<'EOF'
import json, re, sys
f, method, length, digest, host, _ = sys.argv[1:7]
try:
    d = json.load(open(f))
except (OSError, ValueError) as e:
    print("no echo JSON: %s" % e)
    sys.exit(1)
bad = []
if d["method"] != method:
    bad.append("method %s" % d["method"])
if d["body_length"] != int(length):
    bad.append("body_length %d, sent %s" % (d["body_length"], length))
if d["body_sha256"] != digest:
    bad.append("body sha256 differs from the client's")
if not re.fullmatch(re.escape(host) + r"(:[0-9]+)?", d["authority"]):
    bad.append(":authority %r" % d["authority"])
names = [k for k, _ in d["headers"]]
for k, v in d["headers"]:
    lk = k.lower()
    if lk == "host":
        bad.append("a host field (%s) next to :authority" % v)
    if lk in ("connection", "keep-alive", "proxy-connection",
              "transfer-encoding", "upgrade", "x-hop"):
        bad.append("hop-by-hop field %s: %s" % (k, v))
    if lk == "te" and v.strip().lower() != "trailers":
        bad.append("te: %s" % v)
if "x-end-to-end" in names and \
        dict(d["headers"]).get("x-end-to-end") != "kept":
    bad.append("x-end-to-end changed")
bad += ["origin: " + v for v in d["violations"]]
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF
) || fail "$6: $_out"
}

make_certs
WWW=$TMP/www
mkdir -p "$WWW"
head -c 1048576 /dev/urandom >"$WWW/blob.bin"
head -c 300000 /dev/urandom >"$TMP/post.bin"
head -c 20000 /dev/urandom >"$TMP/small.bin"
POST_SHA=$(sha "$TMP/post.bin")
SMALL_SHA=$(sha "$TMP/small.bin")

# ---- upstreams --------------------------------------------------------------------
start_h2 h2c
start_h2 h2tls --tls "$PKI/origin.pem" "$PKI/origin.key"
start_h2 mux --max-concurrent-streams 1000
start_h2 ga
start_h2 ref
start_h2 ping
start_h2 idle
tls_origin h1tls "$PKI/origin.pem" "$PKI/origin.key"
H1TLS_PORT=$TLS_PORT

# nghttpd: h2c (--no-tls) and TLS (ALPN h2), serving $WWW.
NGHTTPD_PORT=$(free_port)
"$NGHTTPD" --no-tls -a 127.0.0.1 -d "$WWW" "$NGHTTPD_PORT" >"$TMP/nghttpd.log" 2>&1 &
NGHTTPD_PID=$!
track "$NGHTTPD_PID"
NGHTTPDS_PORT=$(free_port)
"$NGHTTPD" -a 127.0.0.1 -d "$WWW" "$NGHTTPDS_PORT" "$PKI/origin.key" "$PKI/origin.pem" \
    >"$TMP/nghttpds.log" 2>&1 &
NGHTTPDS_PID=$!
track "$NGHTTPDS_PID"
wait_port "$NGHTTPD_PORT" 10 "$NGHTTPD_PID" || fail "nghttpd does not listen: $(cat "$TMP/nghttpd.log")"
wait_port "$NGHTTPDS_PORT" 10 "$NGHTTPDS_PID" || fail "nghttpd (TLS) does not listen: $(cat "$TMP/nghttpds.log")"

# nginx: "listen ... http2" without ssl is h2c with prior knowledge (1.22);
# with ssl, ALPN h2.
NG=$TMP/nginx
mkdir -p "$NG/tmp" "$NG/logs"
NGINX_PORT=$(free_port)
NGINXS_PORT=$(free_port)
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $NG/logs/error.log info;
pid $NG/nginx.pid;
events { worker_connections 512; }
http {
  types { application/octet-stream bin; }
  default_type application/octet-stream;
  log_format conn '\$connection \$server_protocol "\$request" \$status \$body_bytes_sent';
  access_log $NG/logs/access.log conn;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  server_tokens off;
  server {
    listen 127.0.0.1:$NGINX_PORT http2;
    listen 127.0.0.1:$NGINXS_PORT ssl http2;
    ssl_certificate $PKI/origin.pem;
    ssl_certificate_key $PKI/origin.key;
    server_name _;
    root $WWW;
  }
}
EOF
"$NGINX" -t -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" >"$TMP/nginx-t.log" 2>&1 ||
    error "nginx -t failed: $(cat "$TMP/nginx-t.log")"
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" >"$TMP/nginx.log" 2>&1 &
NGINX_PID=$!
track "$NGINX_PID"
wait_port "$NGINX_PORT" 10 "$NGINX_PID" || fail "nginx does not listen: $(cat "$TMP/nginx.log" "$NG/logs/error.log")"
wait_port "$NGINXS_PORT" 10 "$NGINX_PID" || fail "nginx does not listen on its TLS port"

# The real servers answer HTTP/2 directly (so a failure below is the proxy's).
for u in "http://127.0.0.1:$NGHTTPD_PORT" "http://127.0.0.1:$NGINX_PORT"; do
	curl -sS --max-time 10 --http2-prior-knowledge -o "$TMP/direct.out" "$u/blob.bin" ||
	    fail "direct h2c GET $u/blob.bin failed"
	cmp "$TMP/direct.out" "$WWW/blob.bin" >/dev/null || fail "direct h2c GET $u/blob.bin: wrong bytes"
done
for p in "$NGHTTPDS_PORT" "$NGINXS_PORT"; do
	v=$(direct_h2tls "$p" /blob.bin -o "$TMP/direct.out" -w '%{http_version}') ||
	    fail "direct h2 TLS GET to port $p failed"
	expect_eq "$v" 2 "direct TLS GET to port $p is HTTP/2"
	cmp "$TMP/direct.out" "$WWW/blob.bin" >/dev/null || fail "direct TLS GET to port $p: wrong bytes"
done
: >"$NG/logs/access.log"
say "nghttpd (h2c $NGHTTPD_PORT, TLS $NGHTTPDS_PORT), nginx (h2c $NGINX_PORT, TLS $NGINXS_PORT) answer HTTP/2"

# ---- the proxy ------------------------------------------------------------------------
TLSUP="tls = { enabled = true; ca = \"$PKI/ca.pem\"; server_name = \"origin.mcx.own.example\"; };"
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
write_conf h2.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
admin = { address = "127.0.0.1:$ADMIN"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "h2c"; hosts = ["h2c.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_H2C"];
    protocol = "h2"; pool = { max_connections = 4; max_streams = 100; }; },
  { name = "bad"; hosts = ["bad.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_H2C"];
    protocol = "h2"; health = { fails = 1000; }; },
  { name = "h2tls"; hosts = ["h2tls.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_H2TLS"];
    protocol = "h2"; $TLSUP },
  { name = "mux"; hosts = ["mux.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_MUX"];
    protocol = "h2"; pool = { max_connections = 8; max_streams = 50; }; },
  { name = "ga"; hosts = ["ga.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_GA"];
    protocol = "h2"; pool = { max_connections = 4; }; },
  { name = "ref"; hosts = ["ref.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_REF"];
    protocol = "h2"; pool = { max_connections = 4; }; },
  { name = "ping"; hosts = ["ping.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_PING"];
    protocol = "h2"; pool = { ping_interval = 1.0; idle_timeout = 60.0; }; },
  { name = "idle"; hosts = ["idle.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_IDLE"];
    protocol = "h2"; pool = { idle_timeout = 1.0; }; },
  { name = "h1tls"; hosts = ["h1tls.mcx.own.example"]; targets = ["127.0.0.1:$H1TLS_PORT"];
    protocol = "h2"; $TLSUP },
  { name = "notls"; hosts = ["notls.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_H2TLS"];
    protocol = "h2"; },
  { name = "nghttpd"; hosts = ["nghttpd.mcx.own.example"]; targets = ["127.0.0.1:$NGHTTPD_PORT"];
    protocol = "h2"; },
  { name = "nghttpds"; hosts = ["nghttpds.mcx.own.example"]; targets = ["127.0.0.1:$NGHTTPDS_PORT"];
    protocol = "h2"; $TLSUP },
  { name = "nginx"; hosts = ["nginx.mcx.own.example"]; targets = ["127.0.0.1:$NGINX_PORT"];
    protocol = "h2"; },
  { name = "nginxs"; hosts = ["nginxs.mcx.own.example"]; targets = ["127.0.0.1:$NGINXS_PORT"];
    protocol = "h2"; $TLSUP }
);
EOF
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"

# ---- (a) GET/POST, h2c and TLS ----------------------------------------------------------
for s in h2c h2tls; do
	if [ "$s" = h2c ]; then
		direct="direct_h2c $H2_PORT_H2C"
	else
		direct="direct_h2tls $H2_PORT_H2TLS"
	fi
	for p in "/size?n=1048576" "/size?n=300000&nolen=1" "/size?n=0" \
	    "/trailers?n=5000" "/trailers?n=70000&nolen=1" "/interim"; do
		$direct "$p" -o "$TMP/direct.out" || fail "$s: direct GET $p failed"
		get "$s" "$p" -H 'TE: trailers'
		expect_eq "$CODE" 200 "(a) $s: GET $p"
		same_as_direct "(a) $s: GET $p" "$TMP/direct.out"
		case $p in
		/trailers*)
			# curl -D does not show trailers: --raw keeps the chunked
			# framing, trailer section included.  An HTTP/1.1 response
			# carries trailers only when chunked: required when the
			# origin sent no content-length, reported otherwise.
			_sum=$(sha "$TMP/b")
			curl_ue --raw -H 'TE: trailers' -o "$TMP/raw" \
			    "$(ue_url "$s.mcx.own.example" "$p")" || fail "(a) $s: GET $p --raw"
			if grep -a -q -i "^x-checksum: *$_sum" "$TMP/raw"; then
				say "(a) $s: GET $p: trailer x-checksum passed on"
			else
				case $p in
				*nolen=1) fail "(a) $s: GET $p (chunked to the client, TE: trailers): the trailer x-checksum was not passed on" ;;
				*) say "(a) $s: GET $p: trailer not passed on (sized response)" ;;
				esac
			fi
			;;
		/interim)
			expect_file_match "$TMP/h" '^HTTP/1\.1 103' "(a) $s: the 103 Early Hints passed on"
			;;
		esac
	done
	get "$s" /echo/get
	expect_eq "$CODE" 200 "(a) $s: GET /echo"
	check_echo "$TMP/b" GET 0 "$(sha /dev/null)" "$s.mcx.own.example" "(a) $s: GET /echo at the origin"
	# Sized POST, then a chunked one with every kind of hop-by-hop field.
	get "$s" /echo/post -X POST --data-binary @"$TMP/post.bin" -H 'X-End-To-End: kept'
	expect_eq "$CODE" 200 "(a) $s: POST /echo (300000 bytes, Content-Length)"
	check_echo "$TMP/b" POST 300000 "$POST_SHA" "$s.mcx.own.example" "(a) $s: sized POST at the origin"
	get "$s" /echo/chunked -X POST --data-binary @"$TMP/post.bin" \
	    -H 'Transfer-Encoding: chunked' -H 'Connection: keep-alive, X-Hop' -H 'X-Hop: secret' \
	    -H 'Keep-Alive: timeout=5' -H 'TE: gzip' -H 'Proxy-Connection: keep-alive' \
	    -H 'Upgrade: websocket' -H 'X-End-To-End: kept'
	expect_eq "$CODE" 200 "(a) $s: chunked POST /echo with hop-by-hop fields"
	check_echo "$TMP/b" POST 300000 "$POST_SHA" "$s.mcx.own.example" "(a) $s: chunked POST at the origin"
	say "(a) $s: GET sized/unsized/trailers/103 identical to direct HTTP/2; POST sized and chunked whole; hop-by-hop removed, Host -> :authority"
done

# ---- (b) multiplexing -----------------------------------------------------------------------
# par.py PORT HOST PATH N: N TLS client connections, all set up first, then
# one GET each at the same moment; prints "CODE COUNT" lines and "ms N".
cat >"$TMP/par.py" <<'EOF'
import collections, socket, ssl, sys, threading, time
port, host, path, n, cafile = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
TIMEOUT = 25
ctx = ssl.create_default_context(cafile=cafile)
barrier = threading.Barrier(n, timeout=TIMEOUT)
res = ["none"] * n

def run(i):
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
                            server_hostname=host)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        s.sendall(("GET %s&c=%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, i, host)).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            d = s.recv(65536)
            if not d:
                raise EOFError
            data += d
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        clen = [int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")]
        while clen and len(body) < clen[0]:
            d = s.recv(65536)
            if not d:
                raise EOFError
            body += d
        res[i] = lines[0].split()[1].decode()
        s.close()
    except Exception as e:
        res[i] = type(e).__name__

t0 = time.monotonic()
ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join(TIMEOUT + 5 - (time.monotonic() - t0))
for k, v in sorted(collections.Counter(res).items()):
    print(k, v)
print("ms", int((time.monotonic() - t0) * 1000))
EOF

# mux_run LABEL BOUND: 200 concurrent /slow?ms=1500 to the mux origin; fails
# unless all are 200, the origin saw <= BOUND connections carrying them and
# <= 50 streams at once on one.
mux_run() {
	direct_h2c "$H2_PORT_MUX" '/stats?reset=1' -o /dev/null || fail "(b) cannot reset the mux origin's counters"
	_out=$(python3 "$TMP/par.py" "$PROXY_PORT" mux.mcx.own.example '/slow?ms=1500' 200 "$PKI/ca.pem")
	_ok=$(printf '%s\n' "$_out" | awk '$1 == 200 { print $2 }')
	expect_eq "${_ok:-0}" 200 "(b) $1: 200 concurrent GET /slow?ms=1500 answered 200 (results: $(printf '%s' "$_out" | tr '\n' ' '))"
	_conns=$(h2_stat "$H2_PORT_MUX" served_connections)
	_max=$(h2_stat "$H2_PORT_MUX" max_streams_seen)
	if [ -z "$_conns" ] || [ -z "$_max" ]; then
		fail "(b) $1: cannot read the mux origin's /stats"
	fi
	[ "$_conns" -le "$2" ] ||
	    fail "(b) $1: $_conns upstream connections for 200 requests in flight (max_streams = 50: want <= $2)"
	[ "$_max" -le 50 ] || fail "(b) $1: $_max streams at once on one upstream connection (max_streams = 50)"
	say "(b) $1: 200 concurrent requests, $_conns upstream connections (<= $2), at most $_max streams on one; $(printf '%s\n' "$_out" | awk '$1 == "ms" { print $2 }') ms"
}
mux_run "workers = 1" 4

# ---- (c) GOAWAY -----------------------------------------------------------------------------
# 6 GETs on one connection; K = the highest of their stream ids; then 2 POSTs
# and 4 GETs (streams above K), then /goaway?last=K (above K too).
ga_pids=""
for i in 1 2 3 4 5 6; do
	curl_ue -o "$TMP/ga-g$i.b" -w '%{http_code}' "$(ue_url ga.mcx.own.example "/slow?ms=2500&id=g$i")" \
	    >"$TMP/ga-g$i.code" 2>&1 &
	ga_pids="$ga_pids $!"
done
wait_requests ga '^/slow' 6 10 || fail "(c) the first 6 requests did not reach the origin"
C1=$(awk '$1 ~ /^[0-9]+$/ && $4 ~ /^\/slow/ { print $1 }' "$(h2log ga)" | sort -u)
expect_match "$C1" '^[0-9]+$' "(c) the first 6 requests share one upstream connection"
K=$(awk '$1 ~ /^[0-9]+$/ && $4 ~ /^\/slow/ { print $2 }' "$(h2log ga)" | sort -n | tail -n 1)
for i in 1 2; do
	curl_ue -o "$TMP/ga-p$i.b" -w '%{http_code}' -X POST --data-binary @"$TMP/small.bin" \
	    "$(ue_url ga.mcx.own.example "/slow?ms=2500&id=p$i")" >"$TMP/ga-p$i.code" 2>&1 &
	ga_pids="$ga_pids $!"
done
for i in 7 8 9 10; do
	curl_ue -o "$TMP/ga-g$i.b" -w '%{http_code}' "$(ue_url ga.mcx.own.example "/slow?ms=2500&id=g$i")" \
	    >"$TMP/ga-g$i.code" 2>&1 &
	ga_pids="$ga_pids $!"
done
wait_requests ga '^/slow' 12 10 || fail "(c) the 12 requests did not reach the origin"
others=$(awk '$1 ~ /^[0-9]+$/ && $4 ~ /^\/slow/ { print $1 }' "$(h2log ga)" | sort -u)
expect_eq "$others" "$C1" "(c) all 12 requests on one upstream connection"
get ga "/goaway?last=$K&id=ga"
expect_eq "$CODE" 200 "(c) the /goaway request (above K = $K, retried)"
for pid in $ga_pids; do
	wait "$pid" || true
done
for f in g1 g2 g3 g4 g5 g6 g7 g8 g9 g10 p1 p2; do
	expect_eq "$(cat "$TMP/ga-$f.code")" 200 "(c) request $f around the GOAWAY"
done
for f in p1 p2; do
	expect_match "$(cat "$TMP/ga-$f.b")" "body 20000 sha256 $SMALL_SHA" "(c) POST $f: the body reached the origin whole"
done
for f in g1 g2 g3 g4 g5 g6 g7 g8 g9 g10 p1 p2 ga; do
	case $f in
	ga) path="/goaway?last=$K&id=ga" ;;
	*) path="/slow?ms=2500&id=$f" ;;
	esac
	a=$(attempts ga "$path")
	first=$(printf '%s\n' "$a" | head -n 1)
	n=$(printf '%s\n' "$a" | sed '/^$/d' | wc -l)
	stream=${first#* }
	if [ "$stream" -le "$K" ]; then
		expect_eq "$n" 1 "(c) $f (stream $stream <= K = $K) sent once"
	else
		expect_eq "$n" 2 "(c) $f (stream $stream > K = $K) sent twice (retried once); attempts: $(printf '%s' "$a" | tr '\n' ' ')"
		second=$(printf '%s\n' "$a" | sed -n 2p)
		expect_ne "${second%% *}" "$C1" "(c) $f retried on another connection"
	fi
done
say "(c) GOAWAY last $K: streams above it (2 POSTs too) retried once on another connection, all 200"

# ---- (d) REFUSED_STREAM ---------------------------------------------------------------------
get ref "/refuse?n=1&id=d1"
expect_eq "$CODE" 200 "(d) GET refused once, then retried"
expect_match "$BODY" '^accepted after 1 refusals' "(d) GET: the answer is the retry's"
a=$(attempts ref "/refuse?n=1&id=d1")
expect_eq "$(printf '%s\n' "$a" | wc -l | tr -d ' ')" 2 "(d) GET refused once: attempts at the origin"
if [ "$(printf '%s\n' "$a" | sed -n 1p | cut -d ' ' -f 1)" = "$(printf '%s\n' "$a" | sed -n 2p | cut -d ' ' -f 1)" ]; then
	fail "(d) the retry of a refused stream went on the same connection (origin's \"conn stream\" of the attempts: $(printf '%s' "$a" | tr '\n' ' '))"
fi
get ref "/refuse?n=1&id=d2" -X POST --data-binary @"$TMP/small.bin"
expect_eq "$CODE" 200 "(d) POST refused once, then retried"
expect_match "$BODY" "body 20000 sha256 $SMALL_SHA" "(d) POST: the retried body reached the origin whole"
expect_eq "$(attempts ref "/refuse?n=1&id=d2" | wc -l | tr -d ' ')" 2 "(d) POST refused once: attempts"
get ref "/refuse?id=d3"
expect_eq "$CODE" 502 "(d) a stream refused every time"
expect_eq "$(attempts ref "/refuse?id=d3" | wc -l | tr -d ' ')" 2 "(d) refused every time: tried exactly twice"
say "(d) REFUSED_STREAM: retried once on another connection (GET and POST 200); refused twice: 502"

# ---- (e) malformed responses ---------------------------------------------------------------
# Through route "bad" (the h2c origin with health.fails = 1000): a malformed
# response may count against the target's health, and 14 in a row must not
# turn into 503s for an ejected target here.
for p in /bad/upper /bad/pseudo "/bad/pseudo?kind=unknown" "/bad/pseudo?kind=after" \
    "/bad/pseudo?kind=dup" /bad/conn "/bad/conn?name=keep-alive&value=timeout=77" \
    "/bad/conn?name=transfer-encoding&value=chunked" "/bad/conn?name=upgrade&value=h2c" \
    "/bad/conn?name=proxy-connection&value=keep-alive" /bad/length "/bad/length?short=1" \
    /bad/status /bad/value; do
	get bad "$p"
	expect_eq "$CODE" 502 "(e) malformed response $p"
	all=$(cat "$TMP/h" "$TMP/b" 2>/dev/null)
	expect_no_match "$all" '[Xx]-[Uu]pper-[Nn]ame|:foo|timeout=77|[Xx]-[Ss]plit|[Xx]-[Ii]njected|malformed response|0123456789|^01234$' \
	    "(e) $p: something of the malformed response reached the client"
done
get bad /echo/after-bad
expect_eq "$CODE" 200 "(e) a good request after the malformed responses"
say "(e) malformed responses: 502, nothing forwarded"

# ---- (g) no h2 on the wire ------------------------------------------------------------------
get h1tls /conn
expect_eq "$CODE" 502 "(g) protocol h2 toward a TLS server that does not select ALPN h2"
expect_eq "$(origin_request_count h1tls)" 0 "(g) no request reached the HTTP/1.1 TLS server"
get notls /echo/notls
expect_eq "$CODE" 502 "(g) protocol h2 without tls toward a TLS server"
expect_eq "$(count_requests h2tls '^/echo/notls')" 0 "(g) nothing reached the TLS server over plain TCP"
say "(g) TLS server without ALPN h2: 502; plain h2c toward a TLS port: 502"

# ---- (h) real servers ---------------------------------------------------------------------------
for s in nghttpd nghttpds nginx nginxs; do
	get "$s" /blob.bin
	expect_eq "$CODE" 200 "(h) $s: GET /blob.bin (1 MiB)"
	cmp "$TMP/b" "$WWW/blob.bin" >/dev/null 2>&1 ||
	    fail "(h) $s: 1 MiB through the proxy differs from the file ($(wc -c <"$TMP/b") bytes)"
done
wait_log "$NG/logs/access.log" 'GET /blob.bin HTTP/2.0" 200 1048576' 5 ||
    fail "(h) nginx did not log an HTTP/2 GET of /blob.bin: $(cat "$NG/logs/access.log")"
expect_no_match "$(cat "$NG/logs/access.log")" 'HTTP/1' "(h) nginx saw HTTP/1 requests"
say "(h) nghttpd and nginx (h2c and TLS): 1 MiB byte-identical"

# ---- (j) PING and idle timeout ------------------------------------------------------------------
get ping /noping
expect_eq "$CODE" 200 "(j) GET /noping"
PC=$(printf '%s' "$BODY" | sed -n 's/^pings ignored on conn \([0-9]*\)$/\1/p')
expect_match "$PC" '^[0-9]+$' "(j) /noping names its connection"
wait_log "$(h2log ping)" "^PING conn $PC ignored" 10 ||
    fail "(j) no PING on the idle connection $PC within 10 s (ping_interval = 1.0)"
wait_log "$(h2log ping)" "^CLOSED conn $PC\$" 15 ||
    fail "(j) the connection $PC whose PING went unanswered is still open after 15 s"
get ping /echo/after-ping
expect_eq "$CODE" 200 "(j) a request after the unanswered PING"
expect_ne "$(printf '%s' "$BODY" | sed -n 's/^ "conn": \([0-9]*\),*$/\1/p')" "$PC" "(j) the next request uses a new connection"
get idle /echo/idle
expect_eq "$CODE" 200 "(j) GET to the idle_timeout = 1.0 server"
IC=$(printf '%s' "$BODY" | sed -n 's/^ "conn": \([0-9]*\),*$/\1/p')
wait_log "$(h2log idle)" "^CLOSED conn $IC\$" 6 || fail "(j) idle connection $IC still open 6 s after its request (idle_timeout = 1.0)"
say "(j) unanswered PING: connection $PC closed, next request on a new one; idle connection closed"

# ---- (i) /metrics ------------------------------------------------------------------------------------
curl -sS --max-time 10 "http://127.0.0.1:$ADMIN/metrics" >"$TMP/metrics.txt" || fail "(i) cannot read /metrics"
say "(i) /metrics: the metrics whose name matches h2|upstream:"
awk '{ n = ($1 == "#") ? $3 : $1; sub(/[{].*/, "", n) }
    n ~ /h2|upstream/ { print "#   " $0; c++ } END { exit c == 0 }' "$TMP/metrics.txt" ||
    say "(i) none"
stop_proxy 10

# ---- (b) again with workers = 2 -------------------------------------------------------------------
# Pools are per worker: each worker needs ceil(its share / 50), at most
# ceil(200/50) + workers - 1 in all.
PROXY_PORT=$(free_port)
write_conf h2-w2.conf <<EOF
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "off"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "mux"; hosts = ["mux.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_MUX"];
    protocol = "h2"; pool = { max_connections = 8; max_streams = 50; }; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF"
mux_run "workers = 2" 5
stop_proxy 10

# ---- (k) 1,000 client connections ------------------------------------------------------
# The figure of issue 11 ("How to show it"): K_N TLS client connections
# (HTTP/1.1), one GET /slow?ms=K_MS each, all written at once after every
# handshake is done, toward one h2 server with max_streams = K_STREAMS.  The
# origin allows 1000 streams a connection and pool.max_connections is 64, so
# only max_streams bounds the connections: a worker with R requests in flight
# may open ceil(R / K_STREAMS) of them, ceil(K_N / K_STREAMS) + workers - 1 in
# all.  Each client then sends GET /size?n=20000 on its connection (a body
# that is the same bytes every time).  Both the proxy and the client process
# hold K_N sockets: the open files limit must allow K_N + 300.  The first
# connections wait for the last handshakes (several seconds on 2 busy cores)
# before their request is written, under the request_header deadline: 60 s
# here (default 10).
K_N=1000
K_MS=4000
K_STREAMS=100
K_NEED=$((K_N + 300))
K_MAX=$(((K_N + K_STREAMS - 1) / K_STREAMS))

# k_raise_nofile N: raises the soft open files limit of this shell (so of
# the proxy and the client it starts) to N when lower, as far as the hard
# limit allows; sets K_NOFILE (0 when unknown) and K_NOFILE_HARD.  ulimit -n
# is not in POSIX, but dash, bash, ksh and busybox sh have it.
# shellcheck disable=SC3045
k_raise_nofile() {
	K_NOFILE=$(ulimit -n 2>/dev/null) || K_NOFILE=0
	K_NOFILE_HARD=$(ulimit -H -n 2>/dev/null) || K_NOFILE_HARD=unknown
	case $K_NOFILE in
	unlimited) return 0 ;;
	'' | *[!0-9]*) K_NOFILE=0; return 0 ;;
	esac
	if [ "$K_NOFILE" -lt "$1" ]; then
		ulimit -S -n "$1" 2>/dev/null || true
		K_NOFILE=$(ulimit -n 2>/dev/null) || K_NOFILE=0
	fi
}
k_raise_nofile "$K_NEED"

# k_kv KEY: the first value of KEY in mux_clients.py's output ($K_OUT).
k_kv() {
	printf '%s\n' "$K_OUT" | awk -v k="$1" '$1 == k { print $2; exit }'
}

# k_run WORKERS: one run of K_N clients through a proxy with WORKERS
# workers; fails unless every answer is 200 and identical and the bounds
# hold; says the figure.
k_run() {
	_w=$1
	PROXY_PORT=$(free_port)
	ADMIN=$(free_port)
	_acc=$TMP/k-access-w$_w.log
	write_conf "h2-k-w$_w.conf" <<EOF
domain = "mcx.own.example";
workers = $_w;
log = { level = "info"; access = "$_acc"; access_format = "json"; };
timeouts = { tls_handshake = 60.0; request_header = 60.0; };
admin = { address = "127.0.0.1:$ADMIN"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "k"; hosts = ["k.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_K"];
    protocol = "h2"; pool = { max_connections = 64; max_streams = $K_STREAMS; }; }
);
EOF
	check_conf "$CONF"
	start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"
	direct_h2c "$H2_PORT_K" '/stats?reset=1' -o /dev/null || fail "(k) cannot reset the k origin's counters"
	_bound=$((K_MAX + _w - 1))
	_rc=0
	timeout 150 python3 "$TOOLS/mux_clients.py" --port "$PROXY_PORT" \
	    --host k.mcx.own.example --cafile "$PKI/ca.pem" -n "$K_N" \
	    --path "/slow?ms=$K_MS" --reference "$TMP/k-ref.body" \
	    --then '/size?n=20000' --then-sha "$K_SIZE_SHA" \
	    --metrics "http://127.0.0.1:$ADMIN/metrics" --access-log "$_acc" \
	    --timeout 120 >"$TMP/k-w$_w.out" 2>"$TMP/k-w$_w.log" || _rc=$?
	K_OUT=$(cat "$TMP/k-w$_w.out")
	_sum=$(printf '%s' "$K_OUT" | tr '\n' ';')
	[ "$_rc" -eq 0 ] ||
	    fail "(k) workers = $_w: mux_clients.py exited $_rc: $_sum $(tail -n 5 "$TMP/k-w$_w.log")"
	_conns=$(h2_stat "$H2_PORT_K" served_connections)
	_maxst=$(h2_stat "$H2_PORT_K" max_streams_seen)
	stop_proxy 10
	_ok=$(printf '%s\n' "$K_OUT" | awk '$1 == "status" && $2 == 200 { print $3 }')
	expect_eq "$(k_kv connected)" "$K_N" "(k) workers = $_w: TLS connections up ($_sum)"
	expect_eq "$(k_kv all_in_flight)" 1 "(k) workers = $_w: the last request written before the first answer ($_sum)"
	expect_eq "${_ok:-0}" "$K_N" "(k) workers = $_w: GET /slow?ms=$K_MS answered 200 ($_sum)"
	expect_eq "$(k_kv identical)" "$K_N" "(k) workers = $_w: /slow bodies byte-identical to the direct request's ($_sum)"
	expect_eq "$(k_kv then_identical)" "$K_N" "(k) workers = $_w: /size?n=20000 bodies byte-identical to the direct request's ($_sum)"
	if [ -z "$_conns" ] || [ -z "$_maxst" ]; then
		fail "(k) workers = $_w: cannot read the k origin's /stats"
	fi
	[ "$_conns" -le "$_bound" ] ||
	    fail "(k) workers = $_w: the origin saw $_conns connections carrying the $K_N requests (want <= $_bound)"
	[ "$_maxst" -le "$K_STREAMS" ] ||
	    fail "(k) workers = $_w: $_maxst streams at once on one upstream connection (max_streams = $K_STREAMS)"
	_pc=$(k_kv peak_h2_conns)
	_ps=$(k_kv peak_streams)
	[ "$(k_kv samples)" -gt 0 ] || fail "(k) workers = $_w: no /metrics sample during the flight ($_sum)"
	if [ "$_pc" -gt "$_bound" ] || [ "$_pc" -lt "$K_MAX" ]; then
		fail "(k) workers = $_w: peak of mcxproxy_upstream_connections_by_protocol{protocol=\"h2\"} $_pc (want $K_MAX..$_bound)"
	fi
	if [ "$_ps" -gt "$K_N" ] || [ "$_ps" -lt $((K_N * 95 / 100)) ]; then
		fail "(k) workers = $_w: peak of mcxproxy_upstream_streams $_ps (want about $K_N: $((K_N * 95 / 100))..$K_N)"
	fi
	# Per worker (request id -> worker, body -> origin connection).
	expect_eq "$(k_kv access_lines)" "$K_N" "(k) workers = $_w: access lines of the /slow requests ($_sum)"
	expect_eq "$(k_kv shared_conns)" 0 "(k) workers = $_w: origin connections used by two workers"
	_perw=""
	while read -r _x _wid _y _req _z _wc; do
		[ "$_x" = worker ] || continue
		_wmax=$(((_req + K_STREAMS - 1) / K_STREAMS))
		[ "$_wc" -le "$_wmax" ] ||
		    fail "(k) workers = $_w: worker $_wid used $_wc upstream connections for $_req requests in flight (want <= $_wmax)"
		_perw="$_perw${_perw:+, }$_req on $_wc (worker $_wid)"
	done <<EOF
$K_OUT
EOF
	[ -n "$_perw" ] || fail "(k) workers = $_w: no per-worker figure ($_sum)"
	say "(k) figure, workers = $_w: $K_N requests in flight at once ($K_N TLS client connections, GET /slow?ms=$K_MS) to one h2 server, max_streams = $K_STREAMS: $_conns upstream connections (origin /stats; /metrics h2 gauge peak $_pc; bound $_bound; per worker in flight on connections: $_perw), at most $_maxst streams on one, mcxproxy_upstream_streams peak $_ps; $_ok/$K_N answered 200, $(k_kv identical)/$K_N byte-identical to a direct request ($(k_kv then_identical)/$K_N /size?n=20000 after); handshakes $(printf '%s\n' "$K_OUT" | awk '$1 == "connected" { print $3 }') ms, flight $(k_kv flight_ms) ms, client run $(k_kv total_ms) ms"
}

if [ "$K_NOFILE" != unlimited ] && [ "$K_NOFILE" -lt "$K_NEED" ]; then
	say "(k) SKIPPED: the open files limit is $K_NOFILE (hard: $K_NOFILE_HARD) and cannot be raised to $K_NEED: the $K_N-client figure was not measured"
else
	start_h2 k --max-concurrent-streams 1000
	direct_h2c "$H2_PORT_K" "/slow?ms=$K_MS" -o "$TMP/k-ref.body" ||
	    fail "(k) direct GET /slow?ms=$K_MS failed"
	direct_h2c "$H2_PORT_K" '/size?n=20000' -o "$TMP/k-size.body" ||
	    fail "(k) direct GET /size?n=20000 failed"
	K_SIZE_SHA=$(sha "$TMP/k-size.body")
	k_run 1
	k_run 2
fi

# ---- (f) upstream_response per stream -----------------------------------------------------------
start_h2 to
PROXY_PORT=$(free_port)
write_conf h2-timeout.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { upstream_response = 1.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "to"; hosts = ["to.mcx.own.example"]; targets = ["127.0.0.1:$H2_PORT_TO"];
    protocol = "h2"; pool = { max_connections = 1; }; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF"
t0=$(now_ms)
curl_ue -o /dev/null -w '%{http_code}' "$(ue_url to.mcx.own.example /hang)" >"$TMP/hang.code" 2>&1 &
hang_pid=$!
wait_requests to '^/hang$' 1 5 || fail "(f) /hang did not reach the origin"
hang=$(attempts to /hang)
HC=${hang%% *}
HS=${hang#* }
get to /echo/beside-hang
expect_eq "$CODE" 200 "(f) /echo while /hang is pending"
EC=$(printf '%s' "$BODY" | sed -n 's/^ "conn": \([0-9]*\),*$/\1/p')
expect_eq "$EC" "$HC" "(f) /echo on the same upstream connection as /hang"
wait "$hang_pid" || true
dt=$(($(now_ms) - t0))
expect_eq "$(cat "$TMP/hang.code")" 504 "(f) /hang with upstream_response = 1.0"
if [ "$dt" -lt 900 ] || [ "$dt" -gt 2500 ]; then
	fail "(f) /hang: 504 after $dt ms (want about 1000)"
fi
wait_log "$(h2log to)" "^RST stream $HS code 8 conn $HC\$" 5 ||
    fail "(f) the origin saw no RST_STREAM CANCEL (8) for stream $HS on conn $HC: $(grep '^RST' "$(h2log to)")"
get to /echo/after-hang
expect_eq "$CODE" 200 "(f) /echo after the 504"
EC=$(printf '%s' "$BODY" | sed -n 's/^ "conn": \([0-9]*\),*$/\1/p')
expect_eq "$EC" "$HC" "(f) the connection survives the stream's timeout"
say "(f) /hang: 504 after $dt ms, RST_STREAM CANCEL on stream $HS, /echo beside it 200 on the same connection"
stop_proxy 10

# ---- RFC 9113 at every h2 origin ------------------------------------------------------------------
for n in h2c h2tls mux ga ref ping idle to ${H2_PORT_K:+k}; do
	if grep -q '^VIOLATION\|^ERROR' "$(h2log "$n")"; then
		fail "h2 origin $n saw requests that break RFC 9113: $(grep '^VIOLATION\|^ERROR' "$(h2log "$n")" | head -n 5)"
	fi
done
say "no RFC 9113 violation seen by the h2 origins"
