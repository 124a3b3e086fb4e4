#!/bin/sh
# TLS toward own servers (contract section 3, servers.tls): origin.py's
# handlers behind a python ssl listener (tests/tools/tls_origin.py; origin.py
# itself speaks plain HTTP), with the test PKI's origin.pem
# (origin.mcx.own.example).
#   - tls { enabled; ca = test CA; server_name = origin.mcx.own.example }
#     -> 200, and keep-alive reuse over TLS (one connection, reqs 1..3)
#   - wrong server_name -> 502, nothing reaches the origin
#   - upstream certificate from another CA (signed by rogue-ca) -> 502
#   - no ca: the system trust store, which does not hold the test CA -> 502
#   - tls enabled toward a plain-HTTP origin -> 502
#   - tls disabled toward a TLS origin -> 502
#   - an origin that requires a client certificate: with certificate/key
#     (client.pem) -> 200; without -> 502
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs

# A rogue server certificate for the same name, from a CA the proxy does
# not trust.
cat >"$TMP/rogue.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:origin.mcx.own.example, IP:127.0.0.1
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/rogue-origin.key" -subj "/O=mcxproxy rogue/CN=origin.mcx.own.example" \
    -out "$TMP/rogue-origin.csr" >"$TMP/openssl.log" 2>&1 &&
openssl x509 -req -sha256 -days 2 -in "$TMP/rogue-origin.csr" \
    -CA "$PKI/rogue-ca.pem" -CAkey "$PKI/rogue-ca.key" -CAcreateserial \
    -CAserial "$TMP/rogue-ca.srl" -extfile "$TMP/rogue.ext" \
    -out "$TMP/rogue-origin.pem" >>"$TMP/openssl.log" 2>&1 ||
    error "cannot make the rogue certificate: $(cat "$TMP/openssl.log")"

tls_origin good "$PKI/origin.pem" "$PKI/origin.key"
TLS_PORT_good=$TLS_PORT
tls_origin rogue "$TMP/rogue-origin.pem" "$TMP/rogue-origin.key"
TLS_PORT_rogue=$TLS_PORT
tls_origin mtls "$PKI/origin.pem" "$PKI/origin.key" "$PKI/ca.pem"
TLS_PORT_mtls=$TLS_PORT
start_origin plain

# The TLS origin works on its own (so a 502 below is the proxy's doing).
out=$(curl -sS --max-time 10 --cacert "$PKI/ca.pem" \
    --resolve "origin.mcx.own.example:$TLS_PORT_good:127.0.0.1" \
    "https://origin.mcx.own.example:$TLS_PORT_good/conn") || fail "TLS origin not reachable directly"
expect_eq "$out" "conn=1 reqs=1" "TLS origin answers directly"
: >"$TMP/origin-good.requests"

SN='server_name = "origin.mcx.own.example";'
PROXY_PORT=$(free_port)
write_conf proxy.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { upstream_connect = 3.0; upstream_response = 5.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "good"; hosts = ["good.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_good"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; $SN }; },
  { name = "wrongname"; hosts = ["wrongname.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_good"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; server_name = "kms.mcx.own.example"; }; },
  { name = "rogue"; hosts = ["rogue.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_rogue"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; $SN }; },
  { name = "systemca"; hosts = ["systemca.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_good"];
    tls = { enabled = true; $SN }; },
  { name = "toplain"; hosts = ["toplain.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_PLAIN"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; $SN }; },
  { name = "notls"; hosts = ["notls.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_good"]; },
  { name = "mtls"; hosts = ["mtls.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_mtls"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; $SN
            certificate = "$PKI/client.pem"; key = "$PKI/client.key"; }; },
  { name = "mtlsnocert"; hosts = ["mtlsnocert.mcx.own.example"];
    targets = ["127.0.0.1:$TLS_PORT_mtls"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; $SN }; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF"

# get NAME PATH: sets CODE and BODY.
get() {
	CODE=$(curl_ue -o "$TMP/b" -w '%{http_code}' "$(ue_url "$1.mcx.own.example" "$2")" || true)
	BODY=$(cat "$TMP/b" 2>/dev/null || true)
}

# ---- good: 200 and reuse ------------------------------------------------------
for i in 1 2 3; do
	get good /conn
	expect_eq "$CODE" 200 "TLS upstream: request $i"
	expect_eq "$BODY" "conn=2 reqs=$i" "TLS upstream: request $i on one kept-alive connection"
done
expect_eq "$(origin_request_count good)" 3 "TLS upstream: requests at the origin"
say "TLS upstream: 200, one connection for 3 requests"

# ---- failures: 502, nothing forwarded ----------------------------------------------
for s in wrongname rogue systemca toplain notls mtlsnocert; do
	get "$s" /conn
	expect_eq "$CODE" 502 "$s: status"
	say "$s: $CODE $(printf '%s' "$BODY" | sed -n 2p)"
done
expect_eq "$(origin_request_count good)" 3 "no request reached the good origin through a failing route"
expect_eq "$(origin_request_count rogue)" 0 "no request reached the rogue origin"
expect_eq "$(origin_request_count mtls)" 0 "no request reached the mutual-TLS origin without a client certificate"
# toplain: the plain origin may log the TLS ClientHello as a bad request
# line, but never a request.
if grep -q -E '^(GET|POST|HEAD) ' "$TMP/origin-plain.requests"; then
	fail "a request reached the plain origin over a TLS route: $(cat "$TMP/origin-plain.requests")"
fi

# ---- mutual TLS ------------------------------------------------------------------------
get mtls /conn
expect_eq "$CODE" 200 "mutual TLS upstream with a client certificate"
expect_eq "$(origin_request_count mtls)" 1 "mutual TLS origin got the request"
say "mutual TLS upstream: 200 with a client certificate, 502 without"
stop_proxy
