#!/bin/sh
# Trust-domain policy across two domains (contract section 4; R10, R11, R15,
# R17, R18, R20, R21, R22): two mcxproxy instances, own (A) and partner (B),
# chained over HTTP-3 with mutual TLS.  A UE request for a partner host
# leaves A in absolute-form and reaches B's own server; B knows A by the
# domain its client certificate names and applies that partner's
# asserted_identity policy; no transit through B; a trusted entity's
# asserted identity passes; sources outside allow are closed; CSC-1 shapes
# are refused before any upstream sees them.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
start_origin gms
A_UE=$(free_port)
A_TRUSTED=$(free_port)
A_CLOSED=$(free_port)
B_PARTNER=$(free_port)

# conf_b POLICY: the partner domain's proxy, with A's policy POLICY.
conf_b() {
	write_conf b.conf <<EOF
domain = "mcx.partner.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "partner"; address = "127.0.0.1:$B_PARTNER";
    tls = { certificate = "$PKI/partner-proxy.pem"; key = "$PKI/partner-proxy.key";
            client_ca = "$PKI/ca.pem"; }; }
);
servers = ( { name = "gms"; hosts = ["gms.mcx.partner.example"];
              targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; } );
partners = (
  { domain = "mcx.own.example"; hosts = ["*.mcx.own.example"];
    proxy = ["127.0.0.1:$A_UE"];
    tls = { ca = "$PKI/ca.pem"; server_name = "proxy.mcx.own.example"; };
    asserted_identity = "$1"; },
  { domain = "mcx.third.example"; hosts = ["*.mcx.third.example"];
    proxy = ["127.0.0.1:$A_UE"]; tls = { ca = "$PKI/ca.pem"; }; }
);
EOF
}

write_conf a.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
headers = { forwarded = "x-forwarded-for"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$A_UE";
    tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key"; }; },
  { role = "trusted"; address = "127.0.0.1:$A_TRUSTED"; allow = ["127.0.0.0/8"]; },
  { role = "trusted"; address = "127.0.0.1:$A_CLOSED"; allow = ["192.0.2.1/32", "2001:db8::/32"]; }
);
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"];
              targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
partners = (
  { domain = "mcx.partner.example"; hosts = ["*.mcx.partner.example"];
    proxy = ["127.0.0.1:$B_PARTNER"];
    tls = { ca = "$PKI/ca.pem"; server_name = "proxy.mcx.partner.example";
            certificate = "$PKI/own-proxy.pem"; key = "$PKI/own-proxy.key"; }; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
check_conf "$TMP/a.conf"
conf_b strip
check_conf "$TMP/b.conf"
PROXY_PORT=$A_UE
start_proxy "$TMP/a.conf" "$A_UE" "$A_TRUSTED" "$A_CLOSED"
start_proxy "$TMP/b.conf" "$B_PARTNER"

# ---- UE -> A -> B -> partner GMS (R11, R20, R22) ---------------------------
say "UE request for a partner host"
out=$(curl_ue -H 'X-Forwarded-For: 198.51.100.9' \
    "$(ue_url gms.mcx.partner.example /headers?x=1)") || fail "UE -> partner request failed"
expect_match "$out" '^GET /headers\?x=1 HTTP/1\.1' "partner origin gets origin-form, query intact"
expect_match "$out" '^Host: gms\.mcx\.partner\.example(:[0-9]+)?$' "Host is the partner host"
expect_eq "$(echo "$out" | grep -c '^Via: 1\.1 mcxproxy$')" 2 "one Via per proxy"
# Topology hiding: A sends no client address toward a partner, though it
# does toward its own servers; the UE's own field passes untouched.
expect_no_match "$out" '^X-Forwarded-For: .*127\.0\.0\.1' "no own address toward the partner"
expect_match "$out" '^X-Forwarded-For: 198\.51\.100\.9$' "the client's own field passes"
own=$(curl_ue "$(ue_url kms.mcx.own.example /headers)")
expect_match "$own" '^X-Forwarded-For: 127\.0\.0\.1$' "own servers do get the client address"
wait_log "$TMP/proxy.log" 'listener=partner route=gms .*peer=proxy\.mcx\.own\.example' 5 ||
    fail "B's access log does not name A as the authenticated peer"
expect_match "$(grep 'listener=partner' "$TMP/proxy.log" | head -1)" 'tls=TLSv1\.3' "HTTP-3 hop on TLS 1.3"

# ---- asserted identity from a trusted entity (R17, R18, R21) ---------------
# trusted_get HOST PATH: a plain request from a trusted entity of A, with an
# asserted identity; prints the response.
trusted_get() {
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\nX-3GPP-Asserted-Identity: "sip:gms@mcx.own.example"\r\nConnection: close\r\n\r\n' "$2" "$1" |
	    H1C_PORT=$A_TRUSTED h1c --plain --methods GET --wait-eof
}
say "asserted identity passes from a trusted entity to an own server"
out=$(trusted_get kms.mcx.own.example /headers)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "trusted -> own server"
expect_match "$out" '^1:B X-3GPP-Asserted-Identity: "sip:gms@mcx\.own\.example"$' "header kept (R18)"

say "a complete request followed by a half-close is answered"
out=$(python3 - "$A_TRUSTED" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /slow?ms=100 HTTP/1.1\r\nHost: kms.mcx.own.example\r\n\r\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n")[0].decode())
PYEOF
)
expect_eq "$out" "HTTP/1.1 200 OK" "request answered after the client's FIN"

say "partner policy strip"
out=$(trusted_get gms.mcx.partner.example /headers)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "trusted -> partner (strip)"
expect_no_match "$out" '^1:B X-3GPP-Asserted-Identity' "stripped by B"

stop_proxy
conf_b pass
start_proxy "$TMP/b.conf" "$B_PARTNER"
say "partner policy pass"
out=$(trusted_get gms.mcx.partner.example /headers)
expect_match "$out" '^1:B X-3GPP-Asserted-Identity: "sip:gms@mcx\.own\.example"$' "passed by B"

stop_proxy
conf_b reject
start_proxy "$TMP/b.conf" "$B_PARTNER"
say "partner policy reject"
before=$(origin_request_count gms)
out=$(trusted_get gms.mcx.partner.example /headers)
expect_match "$out" '^1:STATUS HTTP/1\.1 403' "rejected by B"
expect_eq "$(origin_request_count gms)" "$before" "nothing reached the partner's server"
out=$(curl_ue "$(ue_url gms.mcx.partner.example /conn)")
expect_match "$out" '^conn=' "without the field the same partner is served"

# ---- partner ingress: who may speak, and no transit (R21) ------------------
# b_get CERT HOST PATH: a request straight to B's partner listener.
b_get() {
	curl -sS --max-time "$CURL_MAX_TIME" --cacert "$PKI/ca.pem" \
	    --cert "$PKI/$1.pem" --key "$PKI/$1.key" \
	    --resolve "proxy.mcx.partner.example:$B_PARTNER:127.0.0.1" \
	    -H "Host: $2" -o "$TMP/b_get.body" -w '%{http_code}' \
	    "https://proxy.mcx.partner.example:$B_PARTNER$3" || true
}
say "partner ingress"
expect_eq "$(b_get own-proxy gms.mcx.partner.example /conn)" 200 "A's certificate: own server"
before_kms=$(origin_request_count kms)
expect_eq "$(b_get own-proxy kms.mcx.own.example /conn)" 403 "no transit back out to a partner"
expect_eq "$(b_get own-proxy x.mcx.third.example /conn)" 403 "no transit to a third domain"
expect_file_match "$TMP/b_get.body" 'no transit' "transit refusal says why"
expect_eq "$(origin_request_count kms)" "$before_kms" "transit reached nothing"
expect_eq "$(b_get stranger gms.mcx.partner.example /conn)" 403 "certificate naming no partner"
expect_file_match "$TMP/b_get.body" 'names no configured partner' "refusal says why"
code=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$PKI/ca.pem" -o /dev/null -w '%{http_code}' \
    --resolve "proxy.mcx.partner.example:$B_PARTNER:127.0.0.1" \
    "https://proxy.mcx.partner.example:$B_PARTNER/conn" 2>/dev/null || true)
expect_eq "$code" 000 "no client certificate: no handshake"

# ---- trusted listener allow list (R17) -------------------------------------
say "source outside allow"
out=$(printf 'GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\n\r\n' |
    H1C_PORT=$A_CLOSED h1c --plain --methods GET --wait-eof)
expect_no_match "$out" 'STATUS' "no response to a source outside allow"
expect_match "$out" '^EOF (clean|reset)' "closed at once"
wait_log "$TMP/proxy.log" "connection from 127\.0\.0\.1:[0-9]+ closed: not in allow" 5 ||
    fail "the refusal is not logged"

# ---- CSC-1 shapes (R15) -----------------------------------------------------
say "CSC-1 shapes"
before_kms=$(origin_request_count kms)
code=$(curl_ue -o "$TMP/csc1.body" -w '%{http_code}' \
    "$(ue_url kms.mcx.own.example '/authorize?response_type=code&client_id=mcx-client&scope=openid')")
expect_eq "$code" 403 "OIDC authorization request"
expect_file_match "$TMP/csc1.body" 'CSC-1' "the body says CSC-1 goes to the IdM server"
code=$(curl_ue -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-www-form-urlencoded' \
    --data 'grant_type=authorization_code&code=x&client_id=mcx-client' \
    "$(ue_url kms.mcx.own.example /oauth2/token)")
expect_eq "$code" 403 "OAuth token request"
code=$(curl_ue -o /dev/null -w '%{http_code}' "$(ue_url idms.mcx.own.example /authorize)")
expect_eq "$code" 403 "IdM host"
expect_eq "$(origin_request_count kms)" "$before_kms" "no CSC-1 request reached an upstream"
code=$(curl_ue -o /dev/null -w '%{http_code}' -H 'Content-Type: application/xml' \
    --data '<KmsRequest/>' "$(ue_url kms.mcx.own.example /keymanagement/identity/v1/init)")
expect_eq "$code" 200 "a KMS POST still passes"

stop_proxy
exit 0
