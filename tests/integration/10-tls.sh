#!/bin/sh
# TLS on ue listeners (HTTP-1; TS 33.210 profile): TLS 1.3 and 1.2 with AEAD
# suites only, ECDSA and RSA certificates, hostname verification, no HTTP in
# clear, mutual TLS (client_auth required / optional), the handshake
# timeout, and close_notify when the proxy closes.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v timeout >/dev/null || skip "timeout(1) is not installed"

# hs PORT [s_client options...]: a TLS handshake with PORT (bounded); prints
# s_client's output and "rc=N" as the last line.
hs() {
	_p=$1
	shift
	_rc=0
	_o=$(timeout 20 openssl s_client -connect "127.0.0.1:$_p" -CAfile "$PKI/ca.pem" \
	    -servername proxy.mcx.own.example "$@" </dev/null 2>&1) || _rc=$?
	printf '%s\nrc=%s\n' "$_o" "$_rc"
}

# expect_hs_ok OUT PROTOCOL MSG: the handshake in OUT succeeded with PROTOCOL.
expect_hs_ok() {
	expect_match "$1" '^rc=0$' "$3: s_client exit status"
	expect_match "$1" "^New, $2, Cipher is [A-Z]" "$3: negotiated"
	expect_match "$1" '^ *Verify return code: 0 \(ok\)' "$3: certificate verified"
}

# expect_hs_fail OUT MSG: no TLS session was established (s_client prints a
# pending "Cipher is" line even when the handshake fails later, so its
# exit status and error lines are what counts).
expect_hs_fail() {
	expect_no_match "$1" '^rc=0$' "$2: s_client exit status"
	expect_match "$1" ':error:|Cipher is \(NONE\)' "$2: s_client error"
	expect_no_match "$1" '^ *Session-ID: [0-9A-F]|^ *Protocol *: TLSv1\.3' "$2: a session"
}

# expect_verify_fail OUT MSG: the client did not accept the server certificate.
expect_verify_fail() {
	expect_no_match "$1" '^rc=0$' "$2: s_client exit status"
	expect_no_match "$1" 'Verify return code: 0 ' "$2: verification"
}

# curl_at PORT CURL-ARGS...: curl_ue toward listener PORT.
curl_at() {
	_p=$1
	shift
	curl -sS --cacert "$PKI/ca.pem" --max-time "$CURL_MAX_TIME" \
	    --resolve "*:$_p:127.0.0.1" "$@"
}

# code_at PORT PATH [CURL-ARGS...]: status of GET PATH on gms through PORT
# (000 when there was no HTTP response).
code_at() {
	_p=$1 _path=$2
	shift 2
	curl_at "$_p" -o "$TMP/body" -w '%{http_code}' "$@" \
	    "https://gms.mcx.own.example:$_p$_path" 2>"$TMP/curl.err" || true
}

# Legacy offers for the negative checks.  Each is first shown to work against
# a permissive openssl s_server, so that a refusal by the proxy cannot just
# be the local client refusing to offer it.
LEGACY='ALL:@SECLEVEL=0'
NOAEAD='ALL:!AESGCM:!AESCCM:!CHACHA20:!ARIAGCM:@SECLEVEL=0'

make_certs
start_origin gms
P_EC=$(free_port)
P_RSA=$(free_port)
P_REQ=$(free_port)
P_OPT=$(free_port)
while [ "$P_RSA" = "$P_EC" ]; do P_RSA=$(free_port); done
while [ "$P_REQ" = "$P_EC" ] || [ "$P_REQ" = "$P_RSA" ]; do P_REQ=$(free_port); done
while [ "$P_OPT" = "$P_EC" ] || [ "$P_OPT" = "$P_RSA" ] || [ "$P_OPT" = "$P_REQ" ]; do
	P_OPT=$(free_port)
done
PROXY_PORT=$P_EC
write_conf proxy.conf <<CONFEOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { tls_handshake = 1.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$P_EC";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; },
  { role = "ue"; address = "127.0.0.1:$P_RSA";
    tls = { certificate = "$PKI/proxy-rsa-chain.pem"; key = "$PKI/proxy-rsa.key"; }; },
  { role = "ue"; address = "127.0.0.1:$P_REQ";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key";
            client_auth = "required"; client_ca = "$PKI/ca.pem"; }; },
  { role = "ue"; address = "127.0.0.1:$P_OPT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key";
            client_auth = "optional"; client_ca = "$PKI/ca.pem"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
CONFEOF
check_conf "$CONF"
start_proxy "$CONF" "$P_EC" "$P_RSA" "$P_REQ" "$P_OPT"

# ---- the control server ------------------------------------------------------------------------------------
P_CTL=$(free_port)
openssl s_server -accept "127.0.0.1:$P_CTL" -quiet -cipher "$LEGACY" \
    -cert "$PKI/proxy-rsa.pem" -key "$PKI/proxy-rsa.key" \
    -dcert "$PKI/proxy.pem" -dkey "$PKI/proxy.key" </dev/null >"$TMP/s_server.log" 2>&1 &
CTL_PID=$!
track "$CTL_PID"
wait_port "$P_CTL" 10 "$CTL_PID" || fail "openssl s_server (control) did not start"
# can_offer NAME S_CLIENT-OPTIONS...: the local client can get NAME through.
can_offer() {
	_n=$1
	shift
	_o=$(hs "$P_CTL" "$@")
	if printf '%s\n' "$_o" | grep -q -E '^New, (TLS|SSL)v[0-9.]*, Cipher is [A-Z]' &&
	    printf '%s\n' "$_o" | grep -q '^rc=0$'; then
		return 0
	fi
	say "the local openssl cannot offer $_n: that refusal is not checked"
	return 1
}

# ---- protocol versions ------------------------------------------------------------------------------------------
say "TLS 1.3 and 1.2 accepted"
expect_hs_ok "$(hs "$P_EC" -tls1_3)" TLSv1.3 "TLS 1.3 (ECDSA)"
expect_hs_ok "$(hs "$P_EC" -tls1_2)" TLSv1.2 "TLS 1.2 (ECDSA)"
expect_hs_ok "$(hs "$P_RSA" -tls1_3)" TLSv1.3 "TLS 1.3 (RSA)"
expect_hs_ok "$(hs "$P_RSA" -tls1_2)" TLSv1.2 "TLS 1.2 (RSA)"

say "TLS 1.1 and 1.0 refused"
for v in tls1_1 tls1; do
	if can_offer "-$v" -$v -cipher "$LEGACY"; then
		expect_hs_fail "$(hs "$P_EC" -$v -cipher "$LEGACY")" "-$v (ECDSA listener)"
		expect_hs_fail "$(hs "$P_RSA" -$v -cipher "$LEGACY")" "-$v (RSA listener)"
	fi
done

say "TLS 1.2 without AEAD refused"
if can_offer "non-AEAD TLS 1.2 suites" -tls1_2 -cipher "$NOAEAD"; then
	expect_hs_fail "$(hs "$P_EC" -tls1_2 -cipher "$NOAEAD")" "non-AEAD suites (ECDSA listener)"
	expect_hs_fail "$(hs "$P_RSA" -tls1_2 -cipher "$NOAEAD")" "non-AEAD suites (RSA listener)"
fi
if can_offer AES128-SHA -tls1_2 -cipher 'AES128-SHA:@SECLEVEL=0'; then
	expect_hs_fail "$(hs "$P_RSA" -tls1_2 -cipher 'AES128-SHA:@SECLEVEL=0')" "AES128-SHA"
fi
out=$(hs "$P_EC" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256)
expect_hs_ok "$out" TLSv1.2 "ECDHE-ECDSA-AES128-GCM-SHA256"
expect_match "$out" 'Cipher is ECDHE-ECDSA-AES128-GCM-SHA256' "AEAD suite chosen"
out=$(hs "$P_RSA" -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305)
expect_hs_ok "$out" TLSv1.2 "ECDHE-RSA-CHACHA20-POLY1305"

# ---- certificates --------------------------------------------------------------------------------------------------
say "ECDSA and RSA certificates"
# served_leaf PORT: the SHA-256 fingerprint of the leaf the listener sends.
served_leaf() {
	hs "$1" | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' |
	    openssl x509 -noout -fingerprint -sha256 2>&1
}
fp() {
	openssl x509 -noout -fingerprint -sha256 -in "$1"
}
expect_eq "$(served_leaf "$P_EC")" "$(fp "$PKI/proxy.pem")" "leaf served by the ECDSA listener"
expect_eq "$(served_leaf "$P_RSA")" "$(fp "$PKI/proxy-rsa.pem")" "leaf served by the RSA listener"
expect_match "$(hs "$P_EC")" '^Server public key is 256 bit' "ECDSA listener key size"
expect_match "$(hs "$P_RSA")" '^Server public key is 2048 bit' "RSA listener key size"
expect_eq "$(code_at "$P_EC" /ec)" 200 "GET over the ECDSA listener"
expect_eq "$(code_at "$P_RSA" /rsa)" 200 "GET over the RSA listener"
expect_eq "$(cat "$TMP/body")" "origin gms: GET /rsa" "body over the RSA listener"

say "hostname verification"
out=$(hs "$P_EC" -verify_hostname proxy.mcx.own.example -verify_return_error)
expect_hs_ok "$out" 'TLSv1\.[23]' "-verify_hostname proxy.mcx.own.example"
out=$(hs "$P_RSA" -verify_hostname proxy.mcx.own.example -verify_return_error)
expect_hs_ok "$out" 'TLSv1\.[23]' "-verify_hostname proxy.mcx.own.example (RSA)"
out=$(hs "$P_EC" -verify_hostname proxy.mcx.partner.invalid -verify_return_error)
expect_verify_fail "$out" "-verify_hostname of a name not in the certificate"
out=$(hs "$P_EC" -CAfile "$PKI/rogue-ca.pem" -verify_return_error)
expect_verify_fail "$out" "verification with another CA"

# ---- no HTTP in clear ------------------------------------------------------------------------------------------------
say "plaintext HTTP to the TLS port"
before=$(origin_request_count gms)
out=$(printf '%s\r\n' "GET /plain HTTP/1.1" "Host: gms.mcx.own.example" "Connection: close" "" |
    h1c --plain --timeout 5)
expect_no_match "$out" 'HTTP/1' "an HTTP response to plaintext"
expect_no_match "$out" '^EOF timeout$' "connection closed after plaintext"
expect_eq "$(origin_request_count gms)" "$before" "plaintext request reached the origin"

# ---- mutual TLS ----------------------------------------------------------------------------------------------------------
before=$(origin_request_count gms)
say "client_auth = required"
expect_eq "$(code_at "$P_REQ" /mtls --cert "$PKI/client.pem" --key "$PKI/client.key")" 200 \
    "required: client certificate"
expect_eq "$(cat "$TMP/body")" "origin gms: GET /mtls" "required: body"
expect_eq "$(code_at "$P_REQ" /nocert)" 000 "required: no certificate"
expect_eq "$(code_at "$P_REQ" /rogue --cert "$PKI/rogue-client.pem" --key "$PKI/rogue-client.key")" 000 \
    "required: rogue client certificate"
expect_eq "$(code_at "$P_REQ" /nocert12 --tlsv1.2 --tls-max 1.2)" 000 "required: no certificate (TLS 1.2)"
expect_hs_fail "$(hs "$P_REQ" -tls1_2)" "required: TLS 1.2 handshake without a certificate"
expect_hs_ok "$(hs "$P_REQ" -tls1_2 -cert "$PKI/client.pem" -key "$PKI/client.key")" TLSv1.2 \
    "required: TLS 1.2 handshake with a certificate"
expect_hs_fail "$(hs "$P_REQ" -tls1_2 -cert "$PKI/rogue-client.pem" -key "$PKI/rogue-client.key")" \
    "required: TLS 1.2 handshake with a rogue certificate"
out=$(printf '%s\r\n' "GET /raw-nocert HTTP/1.1" "Host: gms.mcx.own.example" "" |
    H1C_PORT=$P_REQ h1c --methods GET --timeout 5)
expect_no_match "$out" '^1:STATUS' "required: an HTTP response without a certificate"
expect_eq "$(origin_request_count gms)" "$((before + 1))" "required: only the request with a certificate reached the origin"

say "client_auth = optional"
expect_eq "$(code_at "$P_OPT" /opt-nocert)" 200 "optional: no certificate"
expect_eq "$(code_at "$P_OPT" /opt-cert --cert "$PKI/client.pem" --key "$PKI/client.key")" 200 \
    "optional: client certificate"
expect_eq "$(code_at "$P_OPT" /opt-rogue --cert "$PKI/rogue-client.pem" --key "$PKI/rogue-client.key")" 000 \
    "optional: a rogue certificate is still refused"

# ---- handshake timeout -------------------------------------------------------------------------------------------------
say "handshake timeout (timeouts.tls_handshake = 1.0)"
res=$(python3 - "$P_EC" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
t0 = time.monotonic()
try:
    d = s.recv(4096)
    how = "eof" if not d else "data"
except socket.timeout:
    how = "open"
except ConnectionResetError:
    how = "eof"
print("%s %.0f" % (how, (time.monotonic() - t0) * 1000))
PYEOF
)
say "silent client: $res ms"
case $res in
eof\ *) ;;
*) fail "a client that sends nothing was not closed within 5 s: $res" ;;
esac
ms=${res#eof }
[ "$ms" -ge 800 ] || fail "silent client closed after $ms ms, before tls_handshake (1 s)"
[ "$ms" -le 4000 ] || fail "silent client closed after $ms ms, long after tls_handshake (1 s)"
# A client stuck in the middle of its handshake is closed too.
res=$(python3 - "$P_EC" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a ClientHello, cut short
t0 = time.monotonic()
try:
    how = "eof" if not s.recv(4096) else "data"
except socket.timeout:
    how = "open"
except ConnectionResetError:
    how = "eof"
print("%s %.0f" % (how, (time.monotonic() - t0) * 1000))
PYEOF
)
say "half ClientHello: $res ms"
case $res in
eof\ *) ;;
*) fail "a client stuck in the handshake was not closed within 5 s: $res" ;;
esac
expect_eq "$(origin_request_count gms)" "$((before + 3))" \
    "requests at the origin (with an accepted certificate or none where optional)"

# ---- close_notify ------------------------------------------------------------------------------------------------------------
say "clean TLS shutdown"
for v in "" --tls12; do
	out=$(printf '%s\r\n' "GET /bye HTTP/1.1" "Host: gms.mcx.own.example" "Connection: close" "" |
	    h1c $v --methods GET --wait-eof)
	expect_match "$out" '^1:B origin gms: GET /bye$' "Connection: close request ${v:-TLS 1.3}"
	expect_match "$out" '^EOF clean$' "close_notify after Connection: close ${v:-TLS 1.3}"
done
# The proxy's own error answers close cleanly too (405 closes the connection).
out=$(printf '%s\r\n' "CONNECT gms.mcx.own.example:443 HTTP/1.1" "Host: gms.mcx.own.example:443" "" |
    h1c --methods CONNECT --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.1 405 ' "CONNECT answered 405"
expect_match "$out" '^EOF clean$' "close_notify after the 405"
# openssl s_client -ign_eof prints "closed" when it reads a close_notify
# (SSL_ERROR_ZERO_RETURN); a bare TCP close is an "unexpected eof" error.
out=$(printf 'GET /bye-s-client HTTP/1.1\r\nHost: gms.mcx.own.example\r\nConnection: close\r\n\r\n' |
    timeout 20 openssl s_client -connect "127.0.0.1:$P_EC" -CAfile "$PKI/ca.pem" \
    -servername proxy.mcx.own.example -ign_eof 2>&1) || true
expect_match "$out" '^origin gms: GET /bye-s-client$' "s_client -ign_eof: response"
expect_match "$out" '^closed$' "s_client -ign_eof: close_notify"
expect_no_match "$out" 'unexpected eof' "s_client -ign_eof: unexpected eof"

# Signature algorithms: SHA-1 and SHA-224 signatures are outside the
# profile; ecdsa_secp384r1_sha384 is in it (here with a P-256 key on TLS
# 1.2, where the curve and hash need not match).
say "signature algorithms"
out=$(hs "$P_RSA" -tls1_2 -sigalgs RSA+SHA1)
expect_no_match "$out" '^rc=0$' "RSA+SHA1 refused"
out=$(hs "$P_RSA" -tls1_2 -sigalgs RSA+SHA224:ECDSA+SHA224)
expect_no_match "$out" '^rc=0$' "SHA-224 refused"
out=$(hs "$P_EC" -tls1_2 -sigalgs ECDSA+SHA384)
expect_hs_ok "$out" TLSv1.2 "ECDSA+SHA384 on TLS 1.2"
out=$(hs "$P_RSA" -tls1_3 -sigalgs rsa_pss_rsae_sha384)
expect_hs_ok "$out" TLSv1.3 "rsa_pss_rsae_sha384 on TLS 1.3"
