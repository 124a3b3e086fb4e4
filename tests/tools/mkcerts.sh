#!/bin/sh
# mkcerts.sh DIR: a throwaway PKI for mcxproxy's demo and tests, made with
# the openssl CLI only and valid 30 days (never commit the output: hitch's
# committed certificates expired under its tests).
#
#   ca.pem ca.key                   ECDSA P-256 CA
#   proxy.pem proxy.key             ECDSA P-256 server leaf; proxy-chain.pem = leaf + CA
#   proxy-rsa.pem proxy-rsa.key     RSA-2048 server leaf;    proxy-rsa-chain.pem
#     SAN: DNS:localhost DNS:proxy.mcx.own.example IP:127.0.0.1 IP:::1, and
#     DNS:*.mcx.own.example DNS:*.mcx.partner.example so that a UE may also
#     reach https://kms.mcx.own.example/... with the name resolved to the proxy
#   client.pem client.key           client leaf (CN alice, URI sip:alice@mcx.own.example)
#   origin.pem origin.key           upstream server leaf: origin.mcx.own.example, 127.0.0.1
#   own-proxy.pem own-proxy.key     this domain's proxy as a TLS client of a partner
#                                   (DNS:proxy.mcx.own.example, server+client auth)
#   partner-proxy.pem partner-proxy.key
#                                   the partner domain's proxy (DNS:proxy.mcx.partner.example)
#   stranger.pem stranger.key       a valid client naming no configured partner
#                                   (DNS:proxy.mcx.other.example)
#   rogue-ca.pem rogue-client.pem rogue-client.key
#                                   a second CA and a client it signed (must be refused)
#   ue.psk                          "alice:<64 hex>" (mutual PSK)
#
# Quiet unless something fails; running it again regenerates everything.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

log=.mkcerts.log
: >"$log"
on_exit() {
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "mkcerts.sh: failed in $dir:" >&2
		cat "$log" >&2
	fi
	rm -f ext.cnf req.csr
	exit "$rc"
}
trap on_exit EXIT

mask=$(umask)
DAYS=30
SAN_PROXY='DNS:localhost,DNS:proxy.mcx.own.example,DNS:*.mcx.own.example,DNS:*.mcx.partner.example,IP:127.0.0.1,IP:::1'
SAN_ORIGIN='DNS:origin.mcx.own.example,DNS:localhost,IP:127.0.0.1'

run() {
	echo "+ $*" >>"$log"
	"$@" >>"$log" 2>&1
}

# key FILE ec|rsa
key() {
	umask 077
	case $2 in
	ec)  run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
	rsa) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
	esac
	umask "$mask"
}

# ca NAME CN: self-signed CA certificate NAME.pem with key NAME.key
ca() {
	key "$1.key" ec
	cat >ext.cnf <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
O = mcxproxy test PKI
CN = $2
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	run openssl req -new -x509 -sha256 -days "$DAYS" -config ext.cnf \
	    -extensions v3_ca -key "$1.key" -out "$1.pem"
}

# leaf NAME CA KEYTYPE CN EKU SAN [KEYUSAGE]: NAME.pem/NAME.key signed by CA
leaf() {
	key "$1.key" "$3"
	cat >ext.cnf <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
O = mcxproxy test PKI
CN = $4
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, ${7:-digitalSignature}
extendedKeyUsage = $5
subjectAltName = $6
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
	run openssl req -new -sha256 -config ext.cnf -key "$1.key" -out req.csr
	run openssl x509 -req -sha256 -days "$DAYS" -in req.csr \
	    -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -CAserial "$2.srl" \
	    -extfile ext.cnf -extensions v3_leaf -out "$1.pem"
}

ca ca "mcxproxy test CA"
leaf proxy ca ec proxy.mcx.own.example serverAuth "$SAN_PROXY"
leaf proxy-rsa ca rsa proxy.mcx.own.example serverAuth "$SAN_PROXY" \
    "digitalSignature, keyEncipherment"
leaf client ca ec alice clientAuth "URI:sip:alice@mcx.own.example"
leaf origin ca ec origin.mcx.own.example serverAuth "$SAN_ORIGIN"
leaf own-proxy ca ec proxy.mcx.own.example "serverAuth, clientAuth" \
    "DNS:proxy.mcx.own.example"
leaf partner-proxy ca ec proxy.mcx.partner.example "serverAuth, clientAuth" \
    "DNS:proxy.mcx.partner.example,DNS:localhost,IP:127.0.0.1"
leaf stranger ca ec proxy.mcx.other.example clientAuth "DNS:proxy.mcx.other.example"
cat proxy.pem ca.pem >proxy-chain.pem
cat proxy-rsa.pem ca.pem >proxy-rsa-chain.pem

ca rogue-ca "mcxproxy rogue CA"
leaf rogue-client rogue-ca ec mallory clientAuth "URI:sip:mallory@mcx.own.example"

umask 077
printf 'alice:%s\n' "$(openssl rand -hex 32)" >ue.psk
umask "$mask"

for c in proxy proxy-rsa client origin; do
	run openssl verify -CAfile ca.pem "$c.pem"
done
rm -f "$log"
