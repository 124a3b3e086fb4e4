#!/bin/sh
# Slow and idle clients (issue 5) with slowhttptest (Debian): slowloris
# (-H), slow body (-B) and slow read (-X), 250 connections each, against
# one worker.  Before and during each attack, 60 real requests (a new TLS
# connection each, as a device would) must all be answered 200, with a p99
# well under timeouts.request_header: attackers hold connections but never
# the event loop.  Afterwards the attackers' connections are gone (the
# whole-head, body-progress and send-progress timeouts closed them or they
# ended), the proxy is alive and its resident memory is bounded.
# Latencies are printed for the closing note, not compared with a speed
# target.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# Under AddressSanitizer freed memory would wait in a quarantine and
# inflate the resident size measured at the end.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
export ASAN_OPTIONS
command -v slowhttptest >/dev/null 2>&1 ||
    error "slowhttptest is not installed (scripts/deps.sh test set)"
make_certs
start_origin lo
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
write_conf slow.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "warn"; access = "off"; };
admin = { address = "127.0.0.1:$ADMIN"; };
timeouts = { tls_handshake = 5.0; request_header = 5.0; client_idle = 5.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "lo"; hosts = ["127.0.0.1", "gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_LO"]; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"

cat >"$TMP/probe.py" <<'EOF'
# probe.py PORT CA N: N GET requests, each on a new TLS connection; prints
# "ok=K fail=F p50_ms=.. p99_ms=.. max_ms=.." (times: connect to response).
import socket, ssl, sys, time
port, ca, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
times, fails = [], 0
for i in range(n):
    t0 = time.monotonic()
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                            server_hostname="gms.mcx.own.example")
        s.sendall(b"GET /probe HTTP/1.1\r\nHost: gms.mcx.own.example\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        if not data.startswith(b"HTTP/1.1 200 "):
            raise OSError("status %r" % data[:40])
        times.append((time.monotonic() - t0) * 1000)
    except OSError as e:
        fails += 1
        print("probe %d failed: %s" % (i, e), file=sys.stderr)
times.sort()
pct = lambda p: times[min(len(times) - 1, int(len(times) * p))] if times else -1
print("ok=%d fail=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f" %
      (len(times), fails, pct(0.5), pct(0.99), times[-1] if times else -1))
EOF

# probe LABEL: 60 probes; fails unless all are answered 200 with a p99
# under 2.5 s (half of request_header: not queued behind attackers).
probe() {
	_r=$(python3 "$TMP/probe.py" "$PROXY_PORT" "$PKI/ca.pem" 60 2>>"$TMP/probe.err")
	say "$1: $_r"
	expect_match "$_r" '^ok=60 fail=0 ' "$1: every real request answered"
	_p99=$(printf '%s' "$_r" | sed 's/.*p99_ms=\([0-9]*\).*/\1/')
	[ "$_p99" -lt 2500 ] || fail "$1: p99 $_p99 ms: real clients waited behind the attackers"
}

# attack NAME SLOWHTTPTEST-ARGS...: runs slowhttptest for 12 s with 250
# connections in the background, waits until at least 200 connections are
# open at the proxy, probes, then waits for slowhttptest to end.
attack() {
	_name=$1
	shift
	slowhttptest -c 250 -r 125 -l 12 -p 3 "$@" >"$TMP/slow-$_name.log" 2>&1 &
	_pid=$!
	track "$_pid"
	_k=0
	while :; do
		_open=$(metric 'mcxproxy_client_connections{state="active"}')
		[ "${_open:-0}" -lt 200 ] || break
		_k=$((_k + 1))
		[ "$_k" -lt 400 ] || fail "$_name: slowhttptest never held 200 connections (${_open:-0})"
		sleep 0.02
	done
	say "$_name: $_open client connections open"
	probe "during $_name"
	wait_dead "$_pid" 40 || fail "$_name: slowhttptest did not end"
	tail -n 12 "$TMP/slow-$_name.log" | sed -n '/test results/,$p' >&2 || true
	# Its connections are gone once slowhttptest is: none lingers.
	_k=0
	until [ "$(metric 'mcxproxy_client_connections{state="active"}')" = 0 ]; do
		_k=$((_k + 1))
		[ "$_k" -lt 500 ] || fail "$_name: $(metric 'mcxproxy_client_connections{state="active"}') connections still open 10 s after slowhttptest ended"
		sleep 0.02
	done
}

probe "before"
attack slowloris -H -i 2 -u "https://127.0.0.1:$PROXY_PORT/slowloris"
attack slowbody -B -i 2 -s 100000 -u "https://127.0.0.1:$PROXY_PORT/upload"
attack slowread -X -k 4 -n 2 -w 64 -y 128 -z 32 \
    -u "https://127.0.0.1:$PROXY_PORT/bytes?n=4000000"
probe "after"

# 250 slow readers each hold at most OUT_HIGH (256 KiB) toward the client
# and IN_HIGH (64 KiB) from the upstream: about 80 MiB at the peak.
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status")
say "resident memory after the attacks: $rss KiB"
[ "$rss" -lt 393216 ] || fail "resident memory $rss KiB after the attacks"
is_alive "$PROXY_PID" || fail "mcxproxy died"
stop_proxy
