#!/bin/sh
# Certificates chosen by SNI on one ue listener: an exact name, a
# wildcard, no name (the first certificate), and with sni_strict a name
# that no certificate carries is refused (unrecognized_name), while
# without sni_strict the first certificate serves it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
P_STRICT=$(free_port)
P_LAX=$(free_port)
write_conf proxy.conf <<EOF2
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$P_STRICT";
    tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key"; sni_strict = true;
            certificates = ( { certificate = "$PKI/partner-proxy.pem"; key = "$PKI/partner-proxy.key"; },
                             { certificate = "$PKI/proxy-rsa-chain.pem"; key = "$PKI/proxy-rsa.key"; } ); }; },
  { role = "ue"; address = "127.0.0.1:$P_LAX";
    tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key";
            certificates = ( { certificate = "$PKI/partner-proxy.pem"; key = "$PKI/partner-proxy.key"; } ); }; }
);
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
check_conf "$CONF"
PROXY_PORT=$P_STRICT
start_proxy "$CONF" "$P_STRICT" "$P_LAX"

# leaf PORT [NAME]: the SHA-256 fingerprint of the certificate served for
# server name NAME (none: no SNI), or "none" when the handshake failed.
leaf() {
	if [ $# -gt 1 ]; then set -- "$1" -servername "$2"; else set -- "$1" -noservername; fi
	_p=$1
	shift
	_fp=$(timeout 20 openssl s_client -connect "127.0.0.1:$_p" "$@" </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)
	echo "${_fp:-none}"
}
fp() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2
}
EC=$(fp "$PKI/proxy.pem")
PARTNER=$(fp "$PKI/partner-proxy.pem")

say "strict listener"
expect_eq "$(leaf "$P_STRICT" proxy.mcx.partner.example)" "$PARTNER" "exact name -> its certificate"
expect_eq "$(leaf "$P_STRICT" kms.mcx.own.example)" "$EC" "wildcard name -> the wildcard certificate"
expect_eq "$(leaf "$P_STRICT" KMS.MCX.OWN.EXAMPLE)" "$EC" "names compare without case"
expect_eq "$(leaf "$P_STRICT")" "$EC" "no name -> the first certificate"
expect_eq "$(leaf "$P_STRICT" a.b.mcx.own.example)" none "a wildcard covers one label only"
expect_eq "$(leaf "$P_STRICT" unknown.example)" none "unknown name refused"
out=$(timeout 20 openssl s_client -connect "127.0.0.1:$P_STRICT" -servername unknown.example </dev/null 2>&1 || true)
expect_match "$out" 'unrecognized name' "refused with unrecognized_name"

say "lax listener"
expect_eq "$(leaf "$P_LAX" proxy.mcx.partner.example)" "$PARTNER" "exact name"
expect_eq "$(leaf "$P_LAX" unknown.example)" "$EC" "unknown name -> the first certificate"

say "requests through the chosen certificate"
code=$(curl -sS --max-time "$CURL_MAX_TIME" --cacert "$PKI/ca.pem" -o /dev/null -w '%{http_code}' \
    --resolve "proxy.mcx.partner.example:$P_STRICT:127.0.0.1" -H 'Host: kms.mcx.own.example' \
    "https://proxy.mcx.partner.example:$P_STRICT/conn") || true
expect_eq "$code" 200 "request over the SNI-chosen certificate"
stop_proxy
