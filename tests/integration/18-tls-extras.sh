#!/bin/sh
# TLS profile extras on a ue listener (R5, R6): client certificates checked
# against a CRL, an OCSP response stapled for clients that ask, and
# session tickets whose keys come from a shared key file, so a second
# instance of the domain resumes the first one's sessions while a
# different key file does not, and a chain of resumptions (each with the
# last connection's session) never falls back to a full handshake.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms

# A small CA database (openssl ca) to revoke a client and sign an OCSP
# response for the proxy's certificate.
ca_db() {
	mkdir -p "$TMP/ca" && : >"$TMP/ca/index.txt" && echo 01 >"$TMP/ca/crlnumber"
	cat >"$TMP/ca/ca.cnf" <<EOF2
[ca]
default_ca = d
[d]
database = $TMP/ca/index.txt
crlnumber = $TMP/ca/crlnumber
default_md = sha256
default_crl_days = 7
EOF2
}
ca_run() {
	timeout 20 openssl ca -config "$TMP/ca/ca.cnf" -keyfile "$PKI/ca.key" \
	    -cert "$PKI/ca.pem" -batch "$@" >>"$TMP/ca/log" 2>&1 ||
	    fail "openssl ca $*: $(cat "$TMP/ca/log")"
}
ca_db
# proxy.pem goes into the database as valid (for the OCSP answer), then the
# client is revoked and a CRL issued.
ca_run -valid "$PKI/proxy.pem"
ca_run -revoke "$PKI/client.pem"
ca_run -gencrl -out "$TMP/ca/crl.pem"
timeout 20 openssl ocsp -issuer "$PKI/ca.pem" -cert "$PKI/proxy.pem" -no_nonce \
    -reqout "$TMP/ca/req.der" >/dev/null 2>&1 || fail "cannot make an OCSP request"
timeout 20 openssl ocsp -index "$TMP/ca/index.txt" -rsigner "$PKI/ca.pem" \
    -rkey "$PKI/ca.key" -CA "$PKI/ca.pem" -reqin "$TMP/ca/req.der" -ndays 1 \
    -respout "$TMP/ca/resp.der" >/dev/null 2>&1 || fail "cannot make an OCSP response"
# Another valid client, not revoked.
timeout 20 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=bob" -keyout "$TMP/bob.key" -out "$TMP/bob.csr" >/dev/null 2>&1
printf 'extendedKeyUsage = clientAuth\nsubjectAltName = URI:sip:bob@mcx.own.example\n' >"$TMP/bob.ext"
timeout 20 openssl x509 -req -in "$TMP/bob.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
    -CAcreateserial -CAserial "$TMP/bob.srl" -days 2 -sha256 -extfile "$TMP/bob.ext" \
    -out "$TMP/bob.pem" >/dev/null 2>&1 || fail "cannot sign bob"
openssl rand -out "$TMP/tickets.key" 48
openssl rand -out "$TMP/other.key" 48

P1=$(free_port)
P2=$(free_port)
P3=$(free_port)
# conf NAME PORT KEYFILE: a ue listener with CRL, OCSP and ticket keys.
conf() {
	write_conf "$1" <<EOF2
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$2";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key";
          client_auth = "optional"; client_ca = "$PKI/ca.pem"; crl = "$TMP/ca/crl.pem";
          ocsp_response = "$TMP/ca/resp.der"; ticket_key_file = "$3"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
	check_conf "$CONF"
}
conf a.conf "$P1" "$TMP/tickets.key"
conf b.conf "$P2" "$TMP/tickets.key"
conf c.conf "$P3" "$TMP/other.key"
PROXY_PORT=$P1
start_proxy "$TMP/a.conf" "$P1"
start_proxy "$TMP/b.conf" "$P2"
start_proxy "$TMP/c.conf" "$P3"

# sc PORT OPTS...: s_client output for one exchange (bounded).
sc() {
	_p=$1
	shift
	printf 'GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\nConnection: close\r\n\r\n' |
	    timeout 20 openssl s_client -connect "127.0.0.1:$_p" -CAfile "$PKI/ca.pem" \
	    -servername proxy.mcx.own.example -ign_eof "$@" 2>&1 || true
}

say "CRL"
out=$(sc "$P1" -cert "$TMP/bob.pem" -key "$TMP/bob.key")
expect_match "$out" '^conn=' "a valid client certificate"
out=$(sc "$P1" -cert "$PKI/client.pem" -key "$PKI/client.key")
expect_no_match "$out" '^conn=' "a revoked client certificate is refused"
out=$(sc "$P1")
expect_match "$out" '^conn=' "no certificate (client_auth optional)"

say "OCSP stapling"
out=$(sc "$P1" -status)
expect_match "$out" 'OCSP Response Status: successful' "response stapled"
expect_match "$out" 'Cert Status: good' "the stapled status"
out=$(sc "$P1")
expect_no_match "$out" 'OCSP Response Status' "nothing stapled when not asked"

say "session tickets from a shared key file"
for v in -tls1_3 -tls1_2; do
	rm -f "$TMP/sess.pem"
	out=$(sc "$P1" "$v" -sess_out "$TMP/sess.pem")
	expect_match "$out" '^New, TLSv1\.[23]' "$v: first handshake is full"
	out=$(sc "$P1" "$v" -sess_in "$TMP/sess.pem")
	expect_match "$out" '^Reused, TLSv1\.[23]' "$v: same instance resumes"
	out=$(sc "$P2" "$v" -sess_in "$TMP/sess.pem")
	expect_match "$out" '^Reused, TLSv1\.[23]' "$v: second instance with the same key file resumes"
	out=$(sc "$P3" "$v" -sess_in "$TMP/sess.pem")
	expect_match "$out" '^New, TLSv1\.[23]' "$v: another key file does not"
done

# A client that resumes each time with the session of its last connection
# (OpenSSL's client uses a TLS 1.3 ticket once): every resumed TLS 1.3
# connection must bring a new ticket, or every other one is a full
# handshake.  (A TLS 1.2 session stays the same and resumes again.)
say "chained TLS 1.3 resumptions"
for v in -tls1_3; do
	rm -f "$TMP"/chain*.pem
	out=$(sc "$P1" "$v" -sess_out "$TMP/chain0.pem")
	expect_match "$out" '^New, TLSv1\.[23]' "$v: first handshake is full"
	for i in 1 2 3; do
		out=$(sc "$P1" "$v" -sess_in "$TMP/chain$((i - 1)).pem" \
		    -sess_out "$TMP/chain$i.pem")
		expect_match "$out" '^Reused, TLSv1\.[23]' "$v: resumption $i of a chain"
		[ -s "$TMP/chain$i.pem" ] || fail "$v: resumption $i left no session to resume"
	done
done

say "-t on a short key file"
head -c 16 "$TMP/tickets.key" >"$TMP/short.key"
sed "s|$TMP/other.key|$TMP/short.key|" "$TMP/c.conf" >"$TMP/short.conf"
out=$("$MCXPROXY" -t -c "$TMP/short.conf" 2>&1) && fail "-t accepted a 16-byte ticket key file"
expect_match "$out" 'short\.conf:[0-9]+: ticket_key_file .* holds 16 bytes' "short key file reported"
exit 0
