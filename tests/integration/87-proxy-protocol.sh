#!/bin/sh
# PROXY protocol on listeners behind L4 balancers (issue 12), with a raw
# client that speaks for a balancer (tests/tools/ppclient.py) from
# 127.0.0.5 (the balancer) or 127.0.0.9 (anyone else):
#   ue listener, proxy_protocol = true, allow = [balancer]:
#     v1 TCP4, v1 TCP6, v2 TCP4 with TLVs and a good CRC32C, v2 TCP6, a v2
#     header trickled in 3-byte pieces: 200, and the carried client is the
#     address in the access log and in X-Forwarded-For at the origin, never
#     the balancer's;
#     v2 LOCAL (a health check) and v1 UNKNOWN: 200 as the balancer itself;
#     a bad CRC, no header at all (a ClientHello), a garbage header, a v2
#     header over 4096 bytes: closed before TLS, counted by reason;
#     half a header: closed after timeouts.proxy_header, counted;
#     a connection from outside allow: closed before a byte is read;
#     limits.max_connections_per_source counts the carried client: a third
#     connection for 192.0.2.50 is closed, 192.0.2.51 is served;
#   trusted listener, proxy_from = [balancer], allow = [192.0.2.0/25]:
#     carried 192.0.2.7 served (plain HTTP), carried 192.0.2.200 closed
#     (metric reason "address"), a header from 127.0.0.9 closed at accept,
#     LOCAL and UNKNOWN from the balancer closed (the balancer, then the
#     client, is not in allow);
#   mcxproxy -t: proxy_protocol without balancers, a trusted listener
#     without proxy_from, proxy_from without proxy_protocol: errors;
#   timeouts.drain_grace = 2: after SIGTERM /healthz answers 503 at once,
#     new connections are still served during the grace (their responses
#     close the connection: clients move on), then the listener closes and
#     the process exits 0.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

py=/usr/bin/python3
start_origin gms
PROXY_PORT=$(free_port)
TRUSTED_PORT=$(free_port)
ADMIN=$(free_port)
make_certs
write_conf pp.conf <<EOF
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "stderr"; };
headers = { forwarded = "x-forwarded-for"; };
limits = { max_connections_per_source = 2; };
timeouts = { proxy_header = 1.0; drain_grace = 2.0; };
admin = { address = "127.0.0.1:$ADMIN"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    proxy_protocol = true; allow = ["127.0.0.5"];
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; },
  { role = "trusted"; address = "127.0.0.1:$TRUSTED_PORT";
    proxy_protocol = true; proxy_from = ["127.0.0.5/32"];
    allow = ["192.0.2.0/25"]; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$TRUSTED_PORT" "$ADMIN"

pp() {
	$py "$TOOLS/ppclient.py" "$PROXY_PORT" --src 127.0.0.5 \
	    --cafile "$PKI/ca.pem" "$@" 2>&1 || true
}

# served HEADER CLIENT WHAT [options]: 200, and the origin saw CLIENT in
# X-Forwarded-For.
served() {
	_out=$(pp --header "$1" --client "$2" "$@")
	expect_match "$_out" '^STATUS 200' "$3"
	_host=$(echo "$2" | sed 's/:[0-9]*$//; s/^\[//; s/\]$//')
	expect_match "$_out" "^X-Forwarded-For: $_host\$" "$3: X-Forwarded-For"
	expect_file_match "$TMP/proxy.log" "client=\\[?$_host\\]?:" "$3: access log client"
}

say "(a) headers that carry a client"
out=$(pp --header v1 --client 192.0.2.7:5555)
expect_match "$out" '^STATUS 200' "v1 TCP4"
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.7$' "v1 TCP4: X-Forwarded-For"
expect_no_match "$out" '127\.0\.0\.5' "v1 TCP4: the balancer's address"
expect_file_match "$TMP/proxy.log" 'client=192\.0\.2\.7:5555 ' "v1: access log client"
out=$(pp --header v1 --client '[2001:db8::7]:6000')
expect_match "$out" '^X-Forwarded-For: 2001:db8::7$' "v1 TCP6"
out=$(pp --header v2 --client 192.0.2.8:7000 --tlvs --crc)
expect_match "$out" '^STATUS 200' "v2 TCP4 with TLVs and CRC32C"
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.8$' "v2 TCP4: X-Forwarded-For"
out=$(pp --header v2 --client '[2001:db8::8]:7001')
expect_match "$out" '^X-Forwarded-For: 2001:db8::8$' "v2 TCP6"
out=$(pp --header v2 --client 192.0.2.9:7002 --tlvs --crc --split 3 --pause-ms 20)
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.9$' "v2 header in 3-byte pieces"
out=$(pp --header v2 --client 192.0.2.14:7004 --tlvs --crc --pad 3000 --split 700 --pause-ms 20)
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.14$' "v2 header of 3.1 KB (TLVs) in pieces"
out=$(pp --header v1 --client 192.0.2.10:7003 --split 5 --pause-ms 20)
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.10$' "v1 header in 5-byte pieces"
expect_no_match "$(cat "$TMP/proxy.log")" 'client=127\.0\.0\.5' "no request logged as the balancer yet"

say "(b) LOCAL and UNKNOWN: the balancer's own connections"
out=$(pp --header v2local)
expect_match "$out" '^X-Forwarded-For: 127\.0\.0\.5$' "v2 LOCAL"
out=$(pp --header v1unknown)
expect_match "$out" '^X-Forwarded-For: 127\.0\.0\.5$' "v1 UNKNOWN"
expect_eq "$(metric 'mcxproxy_proxy_protocol_headers_total{version="2",command="local"}')" 1 "LOCAL counted"
expect_eq "$(metric 'mcxproxy_proxy_protocol_headers_total{version="1",command="proxy"}')" 3 "v1 headers counted"
expect_eq "$(metric 'mcxproxy_proxy_protocol_headers_total{version="1",command="unknown"}')" 1 "v1 UNKNOWN counted"

say "(c) bad headers are closed before TLS and counted"
out=$(pp --header v2 --client 192.0.2.11:1 --bad-crc)
expect_match "$out" '^CLOSED (header|tls)' "bad CRC32C"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="crc"}')" 1 "bad CRC counted"
out=$(pp --header none)
expect_match "$out" '^CLOSED tls' "no header: a ClientHello where the header should be"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="signature"}')" 1 "missing header counted"
out=$(pp --header "raw:50524f5859205443503420312e322e332e34")
expect_match "$out" '^CLOSED' "a v1 header that is not one"
out=$(pp --header "raw:50524f585920544350342031302e302e302e3120312e322e332e3420312032200d0a")
expect_match "$out" '^CLOSED' "v1 with a trailing space"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="v1"}')" 2 "bad v1 lines counted"
out=$(pp --header "raw:0d0a0d0a000d0a515549540a21111001")
expect_match "$out" '^CLOSED' "v2 announcing more than 4096 bytes"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="too_long"}')" 1 "too long counted"
out=$(pp --header v2 --client 192.0.2.12:1 --stop-after 10 --timeout 5)
expect_match "$out" '^CLOSED header' "half a header: closed after proxy_header"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="timeout"}')" 1 "late header counted"
out=$($py "$TOOLS/ppclient.py" "$PROXY_PORT" --src 127.0.0.9 --cafile "$PKI/ca.pem" \
    --header v2 --client 192.0.2.13:1 --stop-after 0 --timeout 5 2>&1 || true)
expect_match "$out" '^CLOSED' "a header from outside allow (not a balancer)"
expect_match "$(metric 'mcxproxy_client_connections_refused_total{reason="allow"}')" '^[1-9]' \
    "non-balancer refused at accept"
expect_file_match "$TMP/proxy.log" 'bad PROXY|CRC32C mismatch' "a bad header logged"

say "(d) max_connections_per_source counts the carried client"
pp --header v2 --client 192.0.2.50:1 --hold 8 >"$TMP/hold1" &
h1=$!
pp --header v2 --client 192.0.2.50:2 --hold 8 >"$TMP/hold2" &
h2=$!
track "$h1"
track "$h2"
wait_log "$TMP/hold1" READY 10 || fail "first held connection not ready"
wait_log "$TMP/hold2" READY 10 || fail "second held connection not ready"
out=$(pp --header v2 --client 192.0.2.50:3)
expect_match "$out" '^CLOSED' "a third connection for 192.0.2.50"
out=$(pp --header v2 --client 192.0.2.51:3)
expect_match "$out" '^STATUS 200' "192.0.2.51 is another source"
wait "$h1" || true
wait "$h2" || true
expect_match "$(cat "$TMP/hold1")" '^STATUS 200' "held connection 1 served"

say "(e) trusted listener: proxy_from names the balancers, allow the clients"
tp() {
	$py "$TOOLS/ppclient.py" "$TRUSTED_PORT" --plain "$@" 2>&1 || true
}
out=$(tp --src 127.0.0.5 --header v2 --client 192.0.2.7:9)
expect_match "$out" '^STATUS 200' "carried client in allow"
expect_match "$out" '^X-Forwarded-For: 192\.0\.2\.7$' "trusted: X-Forwarded-For"
out=$(tp --src 127.0.0.5 --header v1 --client 192.0.2.200:9)
expect_match "$out" '^CLOSED' "carried client outside allow"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="address"}')" 1 "outside allow counted"
out=$(tp --src 127.0.0.9 --header v2 --client 192.0.2.7:9)
expect_match "$out" '^CLOSED' "trusted: header from a non-balancer"
out=$(tp --src 127.0.0.5 --header v2local)
expect_match "$out" '^CLOSED' "trusted: LOCAL leaves the balancer as client, not in allow"
out=$(tp --src 127.0.0.5 --header v1unknown)
expect_match "$out" '^CLOSED' "trusted: UNKNOWN likewise"
expect_eq "$(metric 'mcxproxy_proxy_protocol_errors_total{reason="address"}')" 3 "outside allow counted"

say "(f) configuration errors"
bad_conf() {
	write_conf bad.conf <<EOF
domain = "mcx.own.example";
listeners = ( $1 );
EOF
	_out=$("$MCXPROXY" -t -c "$TMP/bad.conf" 2>&1) && fail "$2: -t accepted it"
	expect_match "$_out" "$3" "$2"
}
bad_conf "{ role = \"trusted\"; address = \"127.0.0.1:1\"; allow = [\"10.0.0.0/8\"]; proxy_protocol = true; }" \
    "trusted without proxy_from" 'needs proxy_from'
bad_conf "{ role = \"ue\"; address = \"127.0.0.1:1\"; proxy_protocol = true;
    tls = { certificate = \"$PKI/proxy-chain.pem\"; key = \"$PKI/proxy.key\"; }; }" \
    "no balancers named" "proxy_protocol needs the balancers"
bad_conf "{ role = \"trusted\"; address = \"127.0.0.1:1\"; allow = [\"10.0.0.0/8\"]; proxy_from = [\"10.0.0.1\"]; }" \
    "proxy_from alone" 'proxy_from needs proxy_protocol'
bad_conf "{ role = \"ue\"; address = \"127.0.0.1:1\"; allow = [\"10.0.0.0/8\"];
    tls = { certificate = \"$PKI/proxy-chain.pem\"; key = \"$PKI/proxy.key\"; }; }" \
    "allow on ue without proxy_protocol" 'allow is only for'

say "(g) drain_grace: /healthz 503 first, still accepting, then stop"
kill -TERM "$PROXY_PID"
wait_log "$TMP/proxy.log" 'timeouts.drain_grace\)' 5 || fail "SIGTERM not taken"
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/healthz" || true)
expect_eq "$code" 503 "/healthz during the grace"
out=$(pp --header v2 --client 192.0.2.60:1 --keepalive --timeout 5)
expect_match "$out" '^STATUS 200' "a new connection during the grace is served"
expect_match "$out" '^H: Connection: close' "keep-alive ends during the grace"
wait_dead "$PROXY_PID" 10 || fail "mcxproxy still running 10 s after SIGTERM with a 2 s grace"
st=0
wait "$PROXY_PID" || st=$?
PROXY_PID=""
expect_eq "$st" 0 "exit status after the grace"
expect_file_match "$TMP/proxy.log" 'drain_grace over' "the grace ended in the log"
say "ok"
