#!/bin/sh
# The worked two-domain example etc/examples/{own,partner}-domain.conf stays
# valid (so the documentation cannot rot):
#   1. Each file, copied unchanged beside a tls/ folder holding the file
#      names it refers to (made from the test PKI), passes `mcxproxy -t`
#      ("configuration OK", exit 0) with relative paths taken from the
#      file's folder, not from the working directory.
#   2. A lab copy of each, with only its addresses moved to loopback ports
#      and "user"/"group" dropped, really runs as two chained proxies:
#      a UE of each domain reaches the other domain's GMS through both
#      proxies (HTTP-3 with mutual TLS, each proxy recognising the other by
#      its interdomain certificate), a UE's client_identity reaches own
#      servers only, and each refuses CSC-1 for both IdM servers.
# When the examples change their addresses, update the "lab" substitutions
# below: a missing one fails with the address it looked for.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

EXAMPLES=$top_srcdir/etc/examples
OWN=mcx.own.example
PARTNER=mcx.partner.example
for f in own-domain.conf partner-domain.conf; do
	[ -r "$EXAMPLES/$f" ] || error "no $EXAMPLES/$f"
done
make_certs

# ---- 1. the files as shipped -------------------------------------------------
# provision DIR: DIR/tls/<domain>/ with the files the examples name.
provision() {
	_o=$1/tls/$OWN _p=$1/tls/$PARTNER
	mkdir -p "$_o" "$_p"
	cp "$PKI/proxy-chain.pem" "$_o/proxy.pem"
	cp "$PKI/proxy.key" "$_o/proxy.key"
	cp "$PKI/own-proxy.pem" "$_o/interdomain.pem"
	cp "$PKI/own-proxy.key" "$_o/interdomain.key"
	cat "$PKI/partner-proxy.pem" "$PKI/ca.pem" >"$_p/proxy.pem"
	cp "$PKI/partner-proxy.key" "$_p/proxy.key"
	cp "$PKI/partner-proxy.pem" "$_p/interdomain.pem"
	cp "$PKI/partner-proxy.key" "$_p/interdomain.key"
	for _d in "$_o" "$_p"; do
		for _ca in ue-ca.pem partners-ca.pem servers-ca.pem; do
			cp "$PKI/ca.pem" "$_d/$_ca"
		done
		cp "$PKI/ue.psk" "$_d/ue.psk"
	done
}

ETC=$TMP/etc
mkdir -p "$ETC"
provision "$ETC"
cp "$EXAMPLES/own-domain.conf" "$EXAMPLES/partner-domain.conf" "$ETC/"
for f in own-domain.conf partner-domain.conf; do
	say "mcxproxy -t -c $f (as shipped)"
	# The working directory is not the file's folder: relative tls/ paths
	# must resolve from the file.
	check_conf "$ETC/$f"
done

# Every tls/ file the examples name is one provisioned above, and vice
# versa: a new file in an example must be added to provision().
named=$(sed -n 's/^[^#]*"\(tls\/[^"]*\)".*/\1/p' "$ETC/own-domain.conf" \
    "$ETC/partner-domain.conf" | sort -u)
have=$(cd "$ETC" && find tls -type f | sort)
expect_eq "$named" "$have" "tls/ files named by the examples"

# A missing file is caught, with the example's line: the check above is
# not vacuous.
mv "$ETC/tls/$OWN/interdomain.key" "$ETC/interdomain.key.away"
out=$("$MCXPROXY" -t -c "$ETC/own-domain.conf" 2>&1) && fail "-t passed without interdomain.key: $out"
expect_match "$out" "own-domain\.conf:[0-9]+: .*interdomain\.key" "-t names the missing key"
mv "$ETC/interdomain.key.away" "$ETC/tls/$OWN/interdomain.key"

# ---- 2. the examples running ---------------------------------------------------
# subst FILE FROM TO: replaces every FROM (a fixed string) in FILE with TO;
# fails when FILE has no FROM.
subst() {
	grep -q -F -- "$2" "$1" ||
	    fail "${1#"$TMP"/}: the example no longer contains '$2' (update 71-examples.sh)"
	python3 - "$1" "$2" "$3" <<'PYEOF'
import sys
path, old, new = sys.argv[1:]
with open(path) as f:
    text = f.read()
with open(path, "w") as f:
    f.write(text.replace(old, new))
PYEOF
}

start_origin own
start_origin partner
A_UE=$(free_port)
A_TR=$(free_port)
A_P=$(free_port)
A_ADM=$(free_port)
B_UE=$(free_port)
B_TR=$(free_port)
B_P=$(free_port)
B_ADM=$(free_port)
ports="$A_UE $A_TR $A_P $A_ADM $B_UE $B_TR $B_P $B_ADM"
[ "$(echo "$ports" | tr ' ' '\n' | sort -u | wc -l)" -eq 8 ] ||
    error "free_port gave the same port twice: $ports"

LAB=$TMP/lab
mkdir -p "$LAB"
provision "$LAB"
A=$LAB/own-domain.conf
B=$LAB/partner-domain.conf
cp "$EXAMPLES/own-domain.conf" "$A"
cp "$EXAMPLES/partner-domain.conf" "$B"
for c in "$A" "$B"; do
	# Not root's business in a test: no privilege drop.
	subst "$c" 'user = "mcxproxy";' ''
	subst "$c" 'group = "mcxproxy";' ''
	subst "$c" 'workers = 0;' 'workers = 1;'
	# The HTTP-3 link, named in both files.
	subst "$c" '"192.0.2.10:8443"' "\"127.0.0.1:$A_P\""
	subst "$c" '"198.51.100.10:8443"' "\"127.0.0.1:$B_P\""
done
subst "$A" '"[::]:443"' "\"127.0.0.1:$A_UE\""
subst "$A" '"10.0.0.1:8080"' "\"127.0.0.1:$A_TR\""
subst "$A" '"10.0.0.0/24"' '"127.0.0.0/8"'
subst "$A" '"127.0.0.1:9090"' "\"127.0.0.1:$A_ADM\""
subst "$B" '"[::]:443"' "\"127.0.0.1:$B_UE\""
subst "$B" '"10.20.0.1:8080"' "\"127.0.0.1:$B_TR\""
subst "$B" '"10.20.0.0/24"' '"127.0.0.0/8"'
subst "$B" '"127.0.0.1:9090"' "\"127.0.0.1:$B_ADM\""
# Own servers: every target of a domain becomes that domain's origin.
for t in 10.0.1.10:8080 10.0.1.11:8080 10.0.1.20:8080 10.0.1.30:8443; do
	subst "$A" "\"$t\"" "\"127.0.0.1:$ORIGIN_PORT_OWN\""
done
for t in 10.20.1.10:8080 10.20.1.11:8080 10.20.1.20:8080 10.20.1.30:8443; do
	subst "$B" "\"$t\"" "\"127.0.0.1:$ORIGIN_PORT_PARTNER\""
done
for c in "$A" "$B"; do
	left=$(grep -n -E '"(10|192\.0\.2|198\.51\.100)\.[0-9.]+:[0-9]+"|"\[::\]:' "$c" || true)
	[ -z "$left" ] || fail "${c#"$TMP"/}: addresses left off the lab substitutions: $left"
done
check_conf "$A"
check_conf "$B"
start_proxy "$A" "$A_UE" "$A_TR" "$A_P"
A_PID=$PROXY_PID
start_proxy "$B" "$B_UE" "$B_TR" "$B_P"

# ue_get PROXY-PORT URL [CURL-ARGS...]: a UE's request through the proxy at
# PROXY-PORT (an HTTPS forward proxy: absolute-form inside TLS, as a UE's
# HTTP client does); prints the body, then "code=NNN".
ue_get() {
	_pp=$1 _url=$2
	shift 2
	curl -sS --max-time "$CURL_MAX_TIME" --proxy "https://127.0.0.1:$_pp" \
	    --proxy-cacert "$PKI/ca.pem" -w 'code=%{http_code}\n' "$@" "$_url" \
	    2>"$TMP/curl.err" || echo "code=curl-failed: $(head -c 300 "$TMP/curl.err")"
}

say "own UE -> own proxy -> own GMS"
out=$(ue_get "$A_UE" "http://gms.$OWN/plain")
expect_match "$out" '^code=200$' "own UE to own GMS"
expect_match "$out" '^origin own: GET /plain$' "own GMS answered"

say "own UE (certificate) -> own proxy -> own GMS: client identity"
out=$(ue_get "$A_UE" "http://gms.$OWN/headers" --proxy-cert "$PKI/client.pem" \
    --proxy-key "$PKI/client.key")
expect_match "$out" '^code=200$' "own UE with a certificate"
expect_match "$out" '^X-MCX-Client-Identity: sip:alice@mcx\.own\.example$' \
    "headers.client_identity toward own servers"
expect_match "$out" '^Forwarded: for=127\.0\.0\.1;proto=https$' "headers.forwarded toward own servers"

say "own UE -> own proxy -> HTTP-3 -> partner proxy -> partner GMS"
out=$(ue_get "$A_UE" "http://gms.$PARTNER/headers" --proxy-cert "$PKI/client.pem" \
    --proxy-key "$PKI/client.key")
expect_match "$out" '^code=200$' "own UE to partner GMS"
expect_match "$out" "^Host: gms\\.mcx\\.partner\\.example$" "partner GMS Host"
expect_eq "$(printf '%s\n' "$out" | grep -c '^Via: 1\.1 mcxproxy$')" 2 "one Via per proxy"
# The partner's servers learn who authenticated to their proxy: the own
# domain's proxy, never the UE behind it.
expect_eq "$(printf '%s\n' "$out" | grep -c '^X-MCX-Client-Identity:')" 1 \
    "one client identity field at the partner's server"
expect_match "$out" '^X-MCX-Client-Identity: proxy\.mcx\.own\.example$' \
    "the partner proxy names the own proxy as its client"
expect_no_match "$out" 'alice' "the UE's identity crosses to the partner"
wait_log "$TMP/proxy.log" 'listener=partner route=gms .*peer=proxy\.mcx\.own\.example' 5 ||
    fail "the partner proxy does not name proxy.mcx.own.example as its peer"

say "partner UE -> partner proxy -> HTTP-3 -> own proxy -> own GMS"
out=$(ue_get "$B_UE" "http://gms.$OWN/back")
expect_match "$out" '^code=200$' "partner UE to own GMS"
expect_match "$out" '^origin own: GET /back$' "own GMS answered the partner"
wait_log "$TMP/proxy.log" 'listener=partner route=gms .*peer=proxy\.mcx\.partner\.example' 5 ||
    fail "the own proxy does not name proxy.mcx.partner.example as its peer"

say "CSC-1 refused for both IdM servers, by both proxies"
for pp in "$A_UE" "$B_UE"; do
	for idm in "idms.$OWN" "idms.$PARTNER"; do
		out=$(ue_get "$pp" "http://$idm/authorize")
		expect_match "$out" '^code=403$' "CSC-1 to $idm through port $pp"
	done
done
expect_eq "$(grep -c 'GET /authorize' "$TMP/origin-own.requests" "$TMP/origin-partner.requests" |
    awk -F: '{ n += $2 } END { print n }')" 0 "CSC-1 requests at an origin"

stop_proxy 10
PROXY_PID=$A_PID
stop_proxy 10
