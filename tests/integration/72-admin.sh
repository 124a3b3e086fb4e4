#!/bin/sh
# The admin listener: GET /healthz is 200 while serving and 503 while
# draining; GET /metrics counts requests by listener role, route and status
# class, the request latency histogram, CSC-1 and asserted-identity
# refusals, TLS handshakes by version and failures by reason, client and
# upstream connections active and idle (an idle keep-alive client moves
# them), upstream target health (an ejected target is 0; the last one in
# rotation is never ejected, so stays 1), body bytes;
# other paths 404, other methods refused.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
DEAD_PORT=$(free_port)	# nobody listens there
DEAD2_PORT=$(free_port)	# nor there
while [ "$DEAD2_PORT" = "$DEAD_PORT" ]; do DEAD2_PORT=$(free_port); done
write_conf proxy.conf <<EOF2
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "off"; };
admin = { address = "127.0.0.1:$ADMIN"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; },
  { name = "dead"; hosts = ["dead.mcx.own.example"]; targets = ["127.0.0.1:$DEAD_PORT", "127.0.0.1:$DEAD2_PORT"];
    health = { fails = 1; interval = 60.0; }; } );
idm_servers = ["idms.mcx.own.example"];
EOF2
check_conf "$CONF"
notify_listen
NOTIFY_SOCKET=$TMP/notify.sock
export NOTIFY_SOCKET
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"
unset NOTIFY_SOCKET
wait_log "$TMP/notify.log" '^READY=1$' 10 || fail "no READY=1 for systemd"
expect_file_match "$TMP/notify.log" '^STATUS=serving domain mcx\.own\.example$' "READY status line"

admin_get() {
	curl -sS --max-time 10 -o "$TMP/admin.body" -w '%{http_code}' "http://127.0.0.1:$ADMIN$1" || true
}
# wait_metric NAME_AND_LABELS VALUE MSG: until the metric has VALUE (5 s).
wait_metric() {
	_n=0
	until [ "$(metric "$1")" = "$2" ]; do
		_n=$((_n + 1))
		[ "$_n" -lt 250 ] || fail "$3"
		sleep 0.02
	done
}

say "healthz and unknown paths"
expect_eq "$(admin_get /healthz)" 200 "healthz while serving"
expect_file_match "$TMP/admin.body" '^ok$' "healthz body"
expect_eq "$(admin_get /nope)" 404 "unknown path"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/metrics" || true)
expect_ne "$code" 200 "POST refused"

say "counters"
for i in 1 2 3; do
	curl_ue -o /dev/null "$(ue_url kms.mcx.own.example /conn)" || fail "GET $i"
done
curl_ue -o /dev/null "$(ue_url idms.mcx.own.example /authorize)" || true
curl_ue -o /dev/null "$(ue_url kms.mcx.own.example '/a?response_type=code&client_id=x')" || true
curl_ue -o /dev/null -H 'X-3GPP-Asserted-Identity: x' "$(ue_url kms.mcx.own.example /conn)" || true
curl_ue -o /dev/null "$(ue_url nowhere.mcx.own.example /)" || true
curl -sS --max-time 10 --tls-max 1.2 --tlsv1.2 --cacert "$PKI/ca.pem" -o /dev/null \
    --resolve "kms.mcx.own.example:$PROXY_PORT:127.0.0.1" "$(ue_url kms.mcx.own.example /conn)" ||
    fail "TLS 1.2 GET"
# Readiness probes count as failed handshakes too (reason eof): measure
# around one plain-text connection.
failed_before=$(metric 'mcxproxy_tls_handshake_failures_total{reason="not_tls"}')
printf 'not tls\r\n\r\n' | timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read())
try:
    s.recv(100)
except OSError:
    pass' "$PROXY_PORT"
expect_eq "$(metric 'mcxproxy_requests_total{listener="ue",route="kms",code="2xx"}')" 4 "2xx requests to kms"
expect_eq "$(metric 'mcxproxy_requests_total{listener="ue",route="-",code="4xx"}')" 4 \
    "4xx requests answered before routing (403 x3, 421)"
expect_eq "$(metric 'mcxproxy_requests_total{listener="ue",route="kms",code="4xx"}')" 0 "no 4xx for kms"
expect_eq "$(metric 'mcxproxy_request_duration_seconds_count')" 8 "latency histogram: count"
expect_eq "$(metric 'mcxproxy_request_duration_seconds_bucket{le="+Inf"}')" 8 "latency histogram: +Inf bucket"
expect_match "$(metric 'mcxproxy_request_duration_seconds_bucket{le="10"}')" '^8$' "latency histogram: le=10 bucket"
expect_match "$(metric 'mcxproxy_request_duration_seconds_sum')" '^0\.[0-9]+$' "latency histogram: sum"
expect_eq "$(metric 'mcxproxy_csc1_refusals_total')" 2 "CSC-1 refusals"
expect_eq "$(metric 'mcxproxy_asserted_identity_refusals_total')" 1 "asserted-identity refusals"
expect_eq "$(metric 'mcxproxy_tls_handshakes_total{version="TLSv1.2"}')" 1 "TLS 1.2 handshakes"
expect_eq "$(metric 'mcxproxy_tls_handshakes_total{version="TLSv1.3"}')" 7 "TLS 1.3 handshakes"
expect_eq "$(metric 'mcxproxy_tls_handshake_failures_total{reason="not_tls"}')" "$((failed_before + 1))" \
    "a plain-text connection: a failed handshake, reason not_tls"
expect_match "$(metric 'mcxproxy_tls_handshake_failures_total{reason="eof"}')" '^[1-9]' \
    "readiness probes: failed handshakes, reason eof"
curl -sS --max-time 10 --tls-max 1.1 --tlsv1 --cacert "$PKI/ca.pem" -o /dev/null \
    --resolve "kms.mcx.own.example:$PROXY_PORT:127.0.0.1" "$(ue_url kms.mcx.own.example /conn)" 2>/dev/null &&
    fail "TLS 1.1 was accepted"
expect_eq "$(metric 'mcxproxy_tls_handshake_failures_total{reason="protocol_version"}')" 1 \
    "a TLS 1.1 client: reason protocol_version"
expect_eq "$(metric 'mcxproxy_response_body_bytes_total')" "$((4 * 14))" "response bytes (conn=N reqs=M)"
expect_eq "$(metric 'mcxproxy_client_connections{state="active"}')" 0 "no client connection left active"
expect_eq "$(metric 'mcxproxy_client_connections{state="idle"}')" 0 "no client connection left idle"
expect_eq "$(metric 'mcxproxy_upstream_connections{state="active"}')" 0 "no upstream connection in use"
expect_match "$(metric 'mcxproxy_upstream_connections{state="idle"}')" '^[12]$' \
    "pooled upstream connections (one per worker that served)"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"kms\",target=\"127.0.0.1:$ORIGIN_PORT_KMS\"}")" 1 \
    "kms target healthy"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"dead\",target=\"127.0.0.1:$DEAD_PORT\"}")" 1 \
    "dead target healthy until it fails"

say "gauges move with an idle keep-alive client, health with a failure"
printf 'GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\n\r\n\000GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\nConnection: close\r\n\r\n' |
    h1c --methods GET,GET --wait-file "$TMP/go" --timeout 20 >"$TMP/ka.out" &
ka=$!
track "$ka"
wait_metric 'mcxproxy_client_connections{state="idle"}' 1 \
    "the idle keep-alive client is not counted idle"
expect_eq "$(metric 'mcxproxy_client_connections{state="active"}')" 0 "the idle client is not active"
touch "$TMP/go"
wait_dead "$ka" 20 || fail "the keep-alive client did not end"
expect_match "$(cat "$TMP/ka.out")" '2:STATUS HTTP/1.1 200' "the idle client's second request"
wait_metric 'mcxproxy_client_connections{state="idle"}' 0 \
    "the closed client is still counted idle"
expect_eq "$(curl_code "$(ue_url dead.mcx.own.example /x)")" 502 "a request to a dead target"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"dead\",target=\"127.0.0.1:$DEAD_PORT\"}")" 0 \
    "the dead target is ejected"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"dead\",target=\"127.0.0.1:$DEAD2_PORT\"}")" 1 \
    "the other dead target, tried next, stays: it is the last one in rotation"
expect_eq "$(metric 'mcxproxy_requests_total{listener="ue",route="dead",code="5xx"}')" 1 "5xx requests to dead"

say "healthz while draining"
curl_ue -o "$TMP/slow.body" "$(ue_url kms.mcx.own.example /slow?ms=1500)" &
slow=$!
wait_log "$TMP/origin-kms.requests" '^GET /slow' 10 || fail "the slow request did not reach the origin"
kill -TERM "$PROXY_PID"
n=0
until [ "$(admin_get /healthz)" = 503 ]; do
	n=$((n + 1))
	[ "$n" -lt 100 ] || fail "healthz never said 503 while draining"
	sleep 0.02
done
expect_file_match "$TMP/admin.body" '^draining$' "healthz body while draining"
wait_log "$TMP/notify.log" '^STOPPING=1$' 10 || fail "no STOPPING=1 for systemd"
wait "$slow" || fail "the in-flight request failed during the drain"
expect_match "$(cat "$TMP/slow.body")" 'slept' "in-flight request completed"
wait_dead "$PROXY_PID" 10 || fail "mcxproxy did not exit after the drain"
