#!/bin/sh
# Routing and policy (contract section 4): the longest host match, then the
# longest path prefix; 421 for anything not ours (never connected: no open
# proxy); 403 for CSC-1 (idm_servers) and for X-3GPP-Asserted-Identity from
# a UE; 405 for CONNECT.  Every error is text/plain with a request id that
# is also in the access log.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# origin_of HOST PATH: the X-Origin-Name that answered GET PATH with Host: HOST
# ("" when no origin did); the status code goes to $TMP/code.  A raw request:
# the test certificate does not cover every name used here.
origin_of() {
	_out=$(printf '%s\r\n' "GET $2 HTTP/1.1" "Host: $1" "" | h1c --methods GET)
	printf '%s\n' "$_out" | sed -n 's/^1:STATUS HTTP\/1\.1 \([0-9]*\).*/\1/p' >"$TMP/code"
	printf '%s\n' "$_out" | sed -n 's/^1:H X-Origin-Name: //Ip'
}

# expect_route HOST PATH ORIGIN
expect_route() {
	_o=$(origin_of "$1" "$2")
	expect_eq "$(cat "$TMP/code")" 200 "status of $1$2"
	expect_eq "$_o" "$3" "origin that served $1$2"
}

# total_origin_requests: requests received by all origins together.
total_origin_requests() {
	cat "$TMP"/origin-*.requests | wc -l | tr -d ' '
}

# expect_error OUT STATUS WHAT: OUT (h1c output, response 1) is the proxy's
# own STATUS response: text/plain, a "request-id:" line whose id is in the
# access log.  Sets ERR_ID.
expect_error() {
	expect_match "$1" "^1:STATUS HTTP/1\\.1 $2 " "$3: status"
	expect_match "$1" '^1:H Content-Type: text/plain' "$3: Content-Type"
	ERR_ID=$(printf '%s\n' "$1" | sed -n 's/^1:B request-id: *//p')
	expect_match "$ERR_ID" '^[0-9A-Za-z._-]{6,}$' "$3: request-id line in the body"
	wait_log "$TMP/proxy.log" "id=$ERR_ID .*status=$2" 5 ||
	    fail "$3: request id $ERR_ID with status $2 not in the access log"
}

# The servers are listed so that neither "first listed wins" nor "last
# listed wins" would pass: a wildcard before an exact name, a longer
# wildcard before a shorter one, a catch-all before path prefixes, a longer
# prefix before a shorter one and after it; kmsprov lists its own shorter
# prefix first (the longest prefix of each server counts).
for o in wild deep gms kmsall kms kmsid kmsprov; do
	start_origin $o
done
PROXY_PORT=$(free_port)
make_certs
# shellcheck disable=SC2153 # ORIGIN_PORT_<NAME> are set by start_origin
write_conf proxy.conf <<EOF2
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "deep"; hosts = ["*.deep.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_DEEP"]; },
  { name = "wild"; hosts = ["*.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_WILD"]; },
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; },
  { name = "kmsall"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMSALL"]; },
  { name = "kmsid"; hosts = ["kms.mcx.own.example"]; paths = ["/keymanagement/identity/v1/"];
    targets = ["127.0.0.1:$ORIGIN_PORT_KMSID"]; },
  { name = "kmsprov"; hosts = ["kms.mcx.own.example"];
    paths = ["/keymanagement/identity/", "/keymanagement/identity/v1/keyprov"];
    targets = ["127.0.0.1:$ORIGIN_PORT_KMSPROV"]; },
  { name = "kms"; hosts = ["kms.mcx.own.example"]; paths = ["/keymanagement/"];
    targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; }
);
idm_servers = ["idms.mcx.own.example", "*.idm.mcx.own.example"];
EOF2
check_conf "$CONF"
start_proxy "$CONF"

# ---- host match -------------------------------------------------------------------------------------
say "longest host match"
expect_route gms.mcx.own.example /x gms
expect_route GMS.Mcx.Own.Example /x gms
expect_route cms.mcx.own.example /x wild
expect_route a.b.mcx.own.example /x wild
expect_route x.deep.mcx.own.example /x deep
expect_route y.x.deep.mcx.own.example /x deep
expect_route deep.mcx.own.example /x wild

# ---- path prefix ------------------------------------------------------------------------------------------
say "longest path prefix"
expect_route kms.mcx.own.example /keymanagement/identity/v1/init kmsid
expect_route kms.mcx.own.example '/keymanagement/identity/v1/?q=1' kmsid
expect_route kms.mcx.own.example /keymanagement/identity/v1/keyprov kmsprov
expect_route kms.mcx.own.example /keymanagement/identity/v1/keyprov/x kmsprov
expect_route kms.mcx.own.example /keymanagement/identity/v2/init kmsprov
expect_route kms.mcx.own.example /keymanagement/other kms
expect_route kms.mcx.own.example '/keymanagement/x?p=/keymanagement/identity/v1/' kms
expect_route kms.mcx.own.example /keymanagement kmsall
expect_route kms.mcx.own.example /keymanagementX/identity/v1/ kmsall
expect_route kms.mcx.own.example /other kmsall
expect_route kms.mcx.own.example / kmsall
expect_eq "$(origin_requests kmsid)" "GET /keymanagement/identity/v1/init
GET /keymanagement/identity/v1/?q=1" "requests at kmsid"

# ---- refusals: nothing may reach an origin from here on ---------------------------------------------------------
for o in wild deep gms kmsall kms kmsid kmsprov; do
	: >"$TMP/origin-$o.requests"
done

say "unknown host: 421"
# (-H Host: the test certificate only covers the proxy's own names)
code=$(curl_code -H 'Host: www.example.com' "$(ue_url proxy.mcx.own.example /x)")
expect_eq "$code" 421 "unknown host"
expect_match "$(cat "$TMP/body")" '^request-id: ' "421 body has a request id"
code=$(curl_code -H 'Host: mcx.own.example' "$(ue_url proxy.mcx.own.example /x)")
expect_eq "$code" 421 "bare domain (*.mcx.own.example needs a label)"
out=$(printf '%s\r\n' "GET /x HTTP/1.1" "Host: evil.example.org" "" | h1c --methods GET)
expect_error "$out" 421 "unknown Host"
# Names and addresses that lead to a live origin: an open proxy would connect.
out=$(printf '%s\r\n' "GET /x HTTP/1.1" "Host: 127.0.0.1:$ORIGIN_PORT_GMS" "" | h1c --methods GET)
expect_error "$out" 421 "Host: origin address"
out=$(printf '%s\r\n' "GET http://localhost:$ORIGIN_PORT_GMS/x HTTP/1.1" "Host: gms.mcx.own.example" "" |
    h1c --methods GET)
expect_error "$out" 421 "absolute-form to localhost"
out=$(printf '%s\r\n' "GET http://127.0.0.1:$ORIGIN_PORT_KMS/keymanagement/ HTTP/1.1" \
    "Host: kms.mcx.own.example" "" | h1c --methods GET)
expect_error "$out" 421 "absolute-form to the origin address"

say "CSC-1: 403"
out=$(printf '%s\r\n' "GET /authorize HTTP/1.1" "Host: idms.mcx.own.example" "" | h1c --methods GET)
expect_error "$out" 403 "idm server"
expect_match "$out" '^1:B .*CSC-1' "403 for an idm server mentions CSC-1"
out=$(printf '%s\r\n' "POST /token HTTP/1.1" "Host: a.idm.mcx.own.example" \
    "Content-Type: application/x-www-form-urlencoded" "Content-Length: 18" "" "grant_type=foo&a=b" |
    h1c --methods POST)
expect_error "$out" 403 "idm server (wildcard)"
expect_match "$out" '^1:B .*CSC-1' "403 for *.idm mentions CSC-1"
code=$(curl_code "$(ue_url idms.mcx.own.example /)")
expect_eq "$code" 403 "idm server through curl"
expect_match "$(cat "$TMP/body")" 'CSC-1' "curl: body mentions CSC-1"

say "CONNECT: 405"
out=$(printf '%s\r\n' "CONNECT gms.mcx.own.example:443 HTTP/1.1" "Host: gms.mcx.own.example:443" "" |
    h1c --methods CONNECT)
expect_error "$out" 405 "CONNECT"
out=$(printf '%s\r\n' "CONNECT 127.0.0.1:$ORIGIN_PORT_GMS HTTP/1.1" "Host: 127.0.0.1:$ORIGIN_PORT_GMS" "" |
    h1c --methods CONNECT)
expect_error "$out" 405 "CONNECT to the origin address"

say "X-3GPP-Asserted-Identity from a UE: 403"
for f in "X-3GPP-Asserted-Identity: sip:alice@mcx.own.example" \
    "x-3gpp-asserted-identity: <sip:bob@mcx.own.example>" "X-3GPP-ASSERTED-IDENTITY: x"; do
	out=$(printf '%s\r\n' "GET /x HTTP/1.1" "Host: gms.mcx.own.example" "$f" "" | h1c --methods GET)
	expect_error "$out" 403 "$f"
	expect_no_match "$out" '^1:H X-Origin-Name' "$f: answered by the proxy"
done
code=$(curl_code -H 'X-3GPP-Asserted-Identity: sip:alice@mcx.own.example' \
    -X POST --data '<KmsRequest/>' "$(ue_url kms.mcx.own.example /keymanagement/identity/v1/init)")
expect_eq "$code" 403 "asserted identity on a KMS request"

expect_eq "$(total_origin_requests)" 0 "requests that reached an origin while refused"

# A refusal does not poison the connection: after a 421 and a 403 the same
# connection serves a good request, whether each request waits for the
# previous answer (NUL: send the next part after the response) or all three
# are pipelined in one write.
for mode in sequential pipelined; do
	say "keep-alive after refusals ($mode)"
	sep='\000'
	[ "$mode" = sequential ] || sep=''
	out=$(printf "%s\r\n%s\r\n\r\n$sep%s\r\n%s\r\n\r\n$sep%s\r\n%s\r\n%s\r\n\r\n" \
	    "GET /x HTTP/1.1" "Host: evil.example.org" \
	    "GET /x HTTP/1.1" "Host: idms.mcx.own.example" \
	    "GET /after-$mode HTTP/1.1" "Host: gms.mcx.own.example" "Connection: close" |
	    h1c --methods GET,GET,GET --wait-eof)
	expect_match "$out" '^1:STATUS HTTP/1\.1 421 ' "$mode: first answered 421"
	expect_match "$out" '^2:STATUS HTTP/1\.1 403 ' "$mode: second answered 403"
	expect_match "$out" '^3:STATUS HTTP/1\.1 200 ' "$mode: third served"
	expect_match "$out" "^3:B origin gms: GET /after-$mode\$" "$mode: third from gms"
	expect_match "$out" '^EOF clean$' "$mode: closed after Connection: close"
done
