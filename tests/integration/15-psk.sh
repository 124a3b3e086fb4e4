#!/bin/sh
# Mutual PSK on HTTP-1 (R3, R7): one ue listener offers certificates and
# PSK together.  TLS 1.3 external PSK (with DHE) and each TLS 1.2 PSK suite
# work with openssl s_client; a wrong key or an unknown identity gets no
# PSK session; certificate clients are unaffected; the access log names
# the PSK identity; -t reports a bad PSK file as FILE:LINE.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
PROXY_PORT=$(free_port)
write_conf proxy.conf <<EOF2
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
headers = { client_identity = "X-MCX-Client-Identity"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key"; psk = "$PKI/ue.psk"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
check_conf "$CONF"
start_proxy "$CONF"
ID=$(cut -d: -f1 "$PKI/ue.psk")
KEY=$(cut -d: -f2 "$PKI/ue.psk")

# psk_get OPTS...: a GET with s_client and the given PSK options; prints the
# status line (or nothing).
psk_get() {
	printf 'GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\nConnection: close\r\n\r\n' |
	    timeout 10 openssl s_client -connect "127.0.0.1:$PROXY_PORT" -quiet \
	    "$@" 2>/dev/null | head -1 | tr -d '\r'
}

say "TLS 1.3 external PSK"
expect_eq "$(psk_get -tls1_3 -psk_identity "$ID" -psk "$KEY")" "HTTP/1.1 200 OK" "TLS 1.3 PSK"
# A certificate was never needed: s_client without -CAfile would have
# complained; check the handshake itself used the PSK.
out=$(printf 'Q\n' | timeout 10 openssl s_client -connect "127.0.0.1:$PROXY_PORT" \
    -tls1_3 -psk_identity "$ID" -psk "$KEY" 2>&1 || true)
expect_no_match "$out" 'Server certificate' "no certificate in a PSK handshake"
for c in ECDHE-PSK-CHACHA20-POLY1305 DHE-PSK-AES128-GCM-SHA256 \
    DHE-PSK-AES256-GCM-SHA384 PSK-AES128-GCM-SHA256; do
	say "TLS 1.2 $c"
	expect_eq "$(psk_get -tls1_2 -cipher "$c" -psk_identity "$ID" -psk "$KEY")" \
	    "HTTP/1.1 200 OK" "TLS 1.2 $c"
done
wait_log "$TMP/proxy.log" "tls=TLSv1\.2 peer=psk:$ID" 5 || fail "no TLS 1.2 PSK identity in the access log"
wait_log "$TMP/proxy.log" "tls=TLSv1\.3 peer=psk:$ID" 5 || fail "no TLS 1.3 PSK identity in the access log"

say "the authenticated identity goes upstream; a client's own field does not"
out=$(printf 'GET /headers HTTP/1.1\r\nHost: kms.mcx.own.example\r\nX-MCX-Client-Identity: psk:admin\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$PROXY_PORT" -quiet -tls1_3 \
    -psk_identity "$ID" -psk "$KEY" 2>/dev/null | tr -d '\r')
expect_match "$out" "^X-MCX-Client-Identity: psk:$ID\$" "PSK identity forwarded"
expect_no_match "$out" '^X-MCX-Client-Identity: psk:admin' "forged field removed"
out=$(curl_ue -H 'X-MCX-Client-Identity: psk:admin' "$(ue_url kms.mcx.own.example /headers)")
expect_no_match "$out" '^X-MCX-Client-Identity' "an anonymous client gets no identity, and its own is removed"

say "wrong key, unknown identity, non-AEAD PSK suite"
bad=00112233445566778899aabbccddeeff
expect_eq "$(psk_get -tls1_3 -psk_identity "$ID" -psk "$bad")" "" "TLS 1.3 wrong key"
expect_eq "$(psk_get -tls1_2 -cipher PSK-AES128-GCM-SHA256 -psk_identity "$ID" -psk "$bad")" "" \
    "TLS 1.2 wrong key"
expect_eq "$(psk_get -tls1_2 -cipher PSK-AES128-GCM-SHA256 -psk_identity nobody -psk "$KEY")" "" \
    "TLS 1.2 unknown identity"
expect_eq "$(psk_get -tls1_2 -cipher PSK-AES128-CBC-SHA256 -psk_identity "$ID" -psk "$KEY")" "" \
    "TLS 1.2 PSK without AEAD"

say "certificate clients on the same listener"
out=$(curl_ue "$(ue_url kms.mcx.own.example /conn)") || fail "certificate client failed"
expect_match "$out" '^conn=' "certificate client served"

say "-t reports a bad PSK file"
printf '%s:%s\nmallory:0011\n' "$ID" "$KEY" >"$TMP/bad.psk"
sed "s|$PKI/ue.psk|$TMP/bad.psk|" "$CONF" >"$TMP/bad.conf"
out=$("$MCXPROXY" -t -c "$TMP/bad.conf" 2>&1) && fail "-t accepted a bad PSK file"
expect_match "$out" "^$TMP/bad\.psk:2: the key must be 32 to 128 hex digits" "FILE:LINE for the bad key"
stop_proxy
