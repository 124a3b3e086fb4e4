#!/bin/sh
# Realistic mission-critical traffic through one proxy (spec digest 4.1,
# 4.4, 4.5; R10, R14, R17, R18, R24; contract section 4):
#  - a UE (ue listener, TLS, Authorization: Bearer) runs the KMS exchanges
#    of TS 33.180 D: init, keyprov, keyprov/<pct-encoded user URI>[/<NTP
#    time>], certcache, each a POST of a KmsRequest XML body; the KmsResponse
#    is byte-identical to the one the KMS gives directly, the origin gets the
#    target percent-encoding intact and the bearer token byte-identical;
#  - the same from a UE configured with the proxy (absolute-form over TLS);
#  - a trusted entity (the GMS as KM client, plain HTTP, no token) posts a
#    keyprov with X-3GPP-Asserted-Identity, which passes untouched, while a
#    UE sending that field is refused;
#  - GMS XCAP (TS 24.481): GET of a group document with its ETag, the
#    conditional GET (If-None-Match -> 304), PUT with the current If-Match
#    (201), PUT with a stale one (412), DELETE; each time the origin's
#    status, end-to-end header fields and body reach the client unchanged and
#    exactly one request reaches the origin.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
start_origin gms
P_UE=$(free_port)
P_TR=$(free_port)
while [ "$P_TR" = "$P_UE" ]; do P_TR=$(free_port); done
PROXY_PORT=$P_UE
write_conf proxy.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$P_UE";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; },
  { role = "trusted"; address = "127.0.0.1:$P_TR"; allow = ["127.0.0.0/8"]; }
);
servers = (
  { name = "kms"; hosts = ["kms.mcx.own.example"]; paths = ["/keymanagement/", "/headers"];
    targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; },
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
check_conf "$CONF"
start_proxy "$CONF" "$P_UE" "$P_TR"

KMS=kms.mcx.own.example
GMS=gms.mcx.own.example
KMSROOT=/keymanagement/identity/v1
ALICE=sip:alice@mcx.own.example
# A JWT-shaped access token (header.payload.signature, base64url) with the
# other token68 characters too: it must reach the KMS byte for byte.
TOKEN='eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoiM2dwcDptYzpwdHRfa2V5X21hbmFnZW1lbnRfc2VydmljZSJ9.MEUCIQDx-_~+/9zQ=='
AUTH="Authorization: Bearer $TOKEN"
ASSERTED='X-3GPP-Asserted-Identity: "sip:gms@mcx.own.example"'

# ---- clients: each writes $TMP/OUT.code (status), OUT.hdr, OUT.body ---------

# send OUT CURL-ARGS...: curl, bounded, recording the response as OUT.
send() {
	_out=$1
	shift
	: >"$TMP/$_out.hdr"
	: >"$TMP/$_out.body"	# curl -o creates nothing for an empty body
	curl -sS --max-time "$CURL_MAX_TIME" -D "$TMP/$_out.hdr" -o "$TMP/$_out.body" \
	    -w '%{http_code}' "$@" >"$TMP/$_out.code" 2>"$TMP/$_out.err" || true
}

# via_ue OUT METHOD HOST PATH [CURL-ARGS...]: a UE request over TLS to the ue
# listener, HOST resolved to the proxy (origin-form).
via_ue() {
	_o=$1 _m=$2 _h=$3 _p=$4
	shift 4
	send "$_o" --cacert "$PKI/ca.pem" --resolve "$_h:$P_UE:127.0.0.1" -X "$_m" "$@" \
	    "https://$_h:$P_UE$_p"
}

# via_abs OUT METHOD HOST PATH [CURL-ARGS...]: a UE configured with the proxy:
# TLS to the ue listener, then an absolute-form http://HOST/PATH request.
via_abs() {
	_o=$1 _m=$2 _h=$3 _p=$4
	shift 4
	send "$_o" --proxy "https://127.0.0.1:$P_UE" --proxy-cacert "$PKI/ca.pem" -X "$_m" "$@" \
	    "http://$_h$_p"
}

# via_trusted OUT METHOD HOST PATH [CURL-ARGS...]: a network entity, plain
# HTTP to the trusted listener.
via_trusted() {
	_o=$1 _m=$2 _h=$3 _p=$4
	shift 4
	send "$_o" --resolve "$_h:$P_TR:127.0.0.1" -X "$_m" "$@" "http://$_h:$P_TR$_p"
}

# direct OUT METHOD HOST PATH [CURL-ARGS...]: the same request straight to the
# origin that serves HOST, without the proxy.
direct() {
	_o=$1 _m=$2 _h=$3 _p=$4
	shift 4
	case $_h in
	"$KMS") _port=$ORIGIN_PORT_KMS ;;
	"$GMS") _port=$ORIGIN_PORT_GMS ;;
	*) error "direct: no origin for $_h" ;;
	esac
	send "$_o" -H "Host: $_h" -X "$_m" "$@" "http://127.0.0.1:$_port$_p"
}

# ---- comparisons -------------------------------------------------------------

code_of() {
	cat "$TMP/$1.code"
}

# e2e OUT: OUT's end-to-end header fields, sorted (without the fields that
# describe one connection or message framing, which a proxy may rewrite:
# Date, Server, X-Conn-*, Connection, Keep-Alive, Content-Length,
# Transfer-Encoding, Via).
e2e() {
	tr -d '\r' <"$TMP/$1.hdr" | sed 1d | grep -v -i -E \
	    '^(date|server|x-conn-id|x-conn-reqs|connection|keep-alive|content-length|transfer-encoding|via):' |
	    grep -v '^$' | LC_ALL=C sort || true
}

# header OUT FIELD: the value of FIELD in OUT's response header.
header() {
	tr -d '\r' <"$TMP/$1.hdr" | sed -n "s/^$2: *//Ip" | tail -n 1
}

# expect_relayed P D MSG: the response P (through the proxy) has the status
# line, every end-to-end header field and the body bytes of D (direct), and
# a Via from the proxy.
expect_relayed() {
	expect_eq "$(tr -d '\r' <"$TMP/$1.hdr" | head -n 1)" "$(tr -d '\r' <"$TMP/$2.hdr" | head -n 1)" \
	    "$3: status line"
	e2e "$1" >"$TMP/e2e.p"
	e2e "$2" >"$TMP/e2e.d"
	_missing=$(LC_ALL=C comm -23 "$TMP/e2e.d" "$TMP/e2e.p")
	expect_eq "$_missing" "" "$3: origin header fields missing or changed through the proxy"
	cmp -s "$TMP/$1.body" "$TMP/$2.body" ||
	    fail "$3: body differs from the origin's: $(diff "$TMP/$2.body" "$TMP/$1.body" | head -n 20)"
	expect_match "$(header "$1" Via)" '(^|, *)1\.1 mcxproxy$' "$3: Via"
}

# hits ORIGIN METHOD TARGET: how many "METHOD TARGET" lines ORIGIN logged.
hits() {
	grep -c -x -F "$2 $3" "$TMP/origin-$1.requests" || true
}

# kms_request FILE USER-URI PATH: a KmsRequest (TS 33.180 D.2) for PATH.
kms_request() {
	cat >"$TMP/$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<KmsRequest xmlns="urn:3gpp:ns:mcsecKMSInterface:1.0" Version="1.1.0">
  <UserUri>$2</UserUri>
  <KmsUri>$KMS</KmsUri>
  <Time>2026-01-26T10:07:14Z</Time>
  <ClientReqUrl>https://$KMS$3</ClientReqUrl>
  <ClientId>mcx-client</ClientId>
  <DeviceId>imei:35-209900-176148-1</DeviceId>
</KmsRequest>
EOF
}

# kms_post VIA OUT PATH FILE [CURL-ARGS...]: POST the KmsRequest FILE to
# PATH on the KMS through VIA (via_ue, via_abs, via_trusted) and directly
# (just before and just after: the KmsResponse carries the current second,
# so the proxied answer must equal one of the two; three tries).  Checks
# that exactly one "POST PATH" (origin-form, encoding intact) reached the
# KMS through the proxy, and that the response is relayed unchanged.
kms_post() {
	_via=$1 _kout=$2 _kpath=$3 _kfile=$4
	shift 4
	_try=0
	while :; do
		direct "$_kout.d1" POST "$KMS" "$_kpath" -H 'Content-Type: application/xml' \
		    --data-binary "@$TMP/$_kfile"
		_before=$(hits kms POST "$_kpath")
		"$_via" "$_kout" POST "$KMS" "$_kpath" -H 'Content-Type: application/xml' \
		    --data-binary "@$TMP/$_kfile" "$@"
		expect_eq "$(hits kms POST "$_kpath")" "$((_before + 1))" \
		    "$_kout: 'POST $_kpath' requests at the KMS after one through the proxy"
		direct "$_kout.d2" POST "$KMS" "$_kpath" -H 'Content-Type: application/xml' \
		    --data-binary "@$TMP/$_kfile"
		expect_eq "$(code_of "$_kout.d1")" 200 "$_kout: direct KMS answer (harness)"
		if cmp -s "$TMP/$_kout.body" "$TMP/$_kout.d1.body"; then
			_d=$_kout.d1
			break
		fi
		_d=$_kout.d2
		cmp -s "$TMP/$_kout.body" "$TMP/$_kout.d2.body" && break
		_try=$((_try + 1))
		[ "$_try" -lt 3 ] || break
		say "$_kout: KmsResponse differs from both direct ones (a new second?): again"
	done
	expect_eq "$(code_of "$_kout")" 200 "$_kout: status through the proxy"
	expect_relayed "$_kout" "$_d" "$_kout"
	expect_eq "$(header "$_kout" Content-Type)" application/xml "$_kout: Content-Type"
}

# ---- KMS from a UE (CSC-8, digest 4.4) ---------------------------------------------
say "UE: KMS init, keyprov, keyprov/<user URI>[/<time>], certcache"
for op in init keyprov keyprov/sip%3Aalice%40mcx.own.example \
    keyprov/sip%3Aalice%40mcx.own.example/D6B4323200000000 certcache; do
	name=ue-$(echo "$op" | tr -c 'a-z0-9\n' '-')
	kms_request "$name.xml" "$ALICE" "$KMSROOT/$op"
	kms_post via_ue "$name" "$KMSROOT/$op" "$name.xml" -H "$AUTH"
	body=$(cat "$TMP/$name.body")
	expect_match "$body" '^<KmsResponse xmlns="urn:3gpp:ns:mcsecKMSInterface:1\.0" Version="1\.1\.0">$' \
	    "$name: a KmsResponse"
	expect_match "$body" "^  <UserUri>$ALICE</UserUri>\$" "$name: UserUri from the request body"
	expect_match "$body" "^  <ClientReqUrl>https://$KMS$KMSROOT/$op</ClientReqUrl>\$" \
	    "$name: ClientReqUrl from the request body"
	case $op in
	init) msg=KmsInit ;;
	keyprov*) msg=KmsKeyProv ;;
	certcache) msg=KmsCertCache ;;
	esac
	expect_match "$body" "^    <$msg Version=" "$name: $msg"
done
wait_log "$TMP/proxy.log" 'listener=ue route=kms .*method=POST .*path="/keymanagement/identity/v1/keyprov/sip%3Aalice%40mcx\.own\.example/D6B4323200000000" status=200' 5 ||
    fail "the access log does not show the keyprov POST with its encoded path"

say "UE: the bearer token reaches the KMS byte for byte"
kms_request ue-headers.xml "$ALICE" "$KMSROOT/init"
via_ue ue-headers POST "$KMS" /headers -H "$AUTH" -H 'Content-Type: application/xml' \
    --data-binary "@$TMP/ue-headers.xml"
expect_eq "$(code_of ue-headers)" 200 "UE /headers"
seen=$(cat "$TMP/ue-headers.body")
expect_eq "$(printf '%s\n' "$seen" | grep -c -x -F "$AUTH" || true)" 1 "Authorization at the KMS, byte-identical"
expect_eq "$(printf '%s\n' "$seen" | grep -c -i '^Authorization:' || true)" 1 "one Authorization at the KMS"
expect_match "$seen" '^Content-Type: application/xml$' "Content-Type at the KMS"
expect_match "$seen" "^Content-Length: $(wc -c <"$TMP/ue-headers.xml" | tr -d ' ')\$" "Content-Length at the KMS"
expect_match "$seen" '^Via: 1\.1 mcxproxy$' "Via at the KMS"

say "UE: KMS paths only: the KMS host outside /keymanagement/ is no route"
before=$(origin_request_count kms)
via_ue ue-other POST "$KMS" /other -H "$AUTH" -H 'Content-Type: application/xml' --data-binary "@$TMP/ue-headers.xml"
expect_eq "$(code_of ue-other)" 421 "KMS host, path outside paths"
expect_eq "$(origin_request_count kms)" "$before" "nothing reached the KMS"

say "UE: X-3GPP-Asserted-Identity from a UE is refused (R10)"
before=$(origin_request_count kms)
via_ue ue-asserted POST "$KMS" "$KMSROOT/keyprov" -H "$AUTH" -H "$ASSERTED" \
    -H 'Content-Type: application/xml' --data-binary "@$TMP/ue-keyprov.xml"
expect_eq "$(code_of ue-asserted)" 403 "asserted identity from a UE"
expect_eq "$(origin_request_count kms)" "$before" "nothing reached the KMS"

# ---- a UE configured with the proxy: absolute-form ---------------------------------------
say "UE with the proxy configured: absolute-form over TLS"
kms_request abs-init.xml "$ALICE" "$KMSROOT/init"
kms_post via_abs abs-init "$KMSROOT/init" abs-init.xml -H "$AUTH"
expect_match "$(cat "$TMP/abs-init.body")" '^    <KmsInit Version=' "absolute-form: KmsInit"
kms_request abs-keyprov.xml "$ALICE" "$KMSROOT/keyprov/sip%3Aalice%40mcx.own.example"
kms_post via_abs abs-keyprov "$KMSROOT/keyprov/sip%3Aalice%40mcx.own.example" abs-keyprov.xml -H "$AUTH"
# curl sends absolute-form to a proxy; the origin must get origin-form and
# Host from the URI, even when the client's Host field names another server.
via_abs abs-headers GET "$KMS" /headers -H "$AUTH" -H "Host: $GMS"
expect_eq "$(code_of abs-headers)" 200 "absolute-form GET /headers"
seen=$(cat "$TMP/abs-headers.body")
expect_eq "$(header abs-headers X-Origin-Name)" kms "absolute-form authority wins over Host"
expect_match "$seen" '^GET /headers HTTP/1\.1$' "origin-form upstream"
expect_eq "$(printf '%s\n' "$seen" | grep -c -i '^Host:' || true)" 1 "one Host upstream"
expect_match "$seen" "^Host: $KMS\$" "Host from the absolute-form URI"
expect_eq "$(printf '%s\n' "$seen" | grep -c -x -F "$AUTH" || true)" 1 "absolute-form: Authorization byte-identical"
expect_no_match "$seen" '^Proxy-Connection:' "curl's Proxy-Connection is not forwarded"

# ---- a trusted network entity: the GMS as KM client (CSC-9/10, digest 4.5) ----------------
say "trusted: GMS keyprov with an asserted identity and no token"
kms_request tr-keyprov.xml sip:gms@mcx.own.example "$KMSROOT/keyprov"
kms_post via_trusted tr-keyprov "$KMSROOT/keyprov" tr-keyprov.xml -H "$ASSERTED"
expect_match "$(cat "$TMP/tr-keyprov.body")" '^        <UserUri>sip:gms@mcx\.own\.example</UserUri>$' \
    "trusted keyprov: the GMS's key set"
wait_log "$TMP/proxy.log" 'listener=trusted route=kms .*method=POST .*path="/keymanagement/identity/v1/keyprov" status=200 .*tls=-' 5 ||
    fail "the access log does not show the trusted keyprov"
via_trusted tr-headers POST "$KMS" /headers -H "$ASSERTED" -H 'Content-Type: application/xml' \
    --data-binary "@$TMP/tr-keyprov.xml"
expect_eq "$(code_of tr-headers)" 200 "trusted /headers"
seen=$(cat "$TMP/tr-headers.body")
expect_eq "$(printf '%s\n' "$seen" | grep -c -x -F "$ASSERTED" || true)" 1 \
    "X-3GPP-Asserted-Identity at the KMS, byte-identical (R18)"
expect_no_match "$seen" '^[Aa]uthorization:' "no Authorization appears"

# ---- GMS XCAP (CSC-2, digest 4.1) ---------------------------------------------------------
DOC=/org.openmobilealliance.groups/users/$ALICE/fire-brigade-1
GROUPS_XML='application/vnd.oma.poc.groups+xml'
say "UE: XCAP GET of a group document"
direct x-get.d GET "$GMS" "$DOC" -H "$AUTH" -H "Accept: $GROUPS_XML"
before=$(hits gms GET "$DOC")
via_ue x-get GET "$GMS" "$DOC" -H "$AUTH" -H "Accept: $GROUPS_XML"
expect_eq "$(code_of x-get)" 200 "XCAP GET"
expect_eq "$(hits gms GET "$DOC")" "$((before + 1))" "XCAP GET: origin-form target at the GMS"
expect_relayed x-get x-get.d "XCAP GET"
expect_eq "$(header x-get Content-Type)" "$GROUPS_XML" "XCAP GET: Content-Type"
ETAG=$(header x-get ETag)
expect_match "$ETAG" '^"[0-9a-f]{16}"$' "XCAP GET: ETag"
expect_match "$(cat "$TMP/x-get.body")" "^    <entry uri=\"$ALICE\"/>\$" "XCAP GET: group member"

say "UE: conditional GET, If-None-Match with the current ETag: 304"
direct x-304.d GET "$GMS" "$DOC" -H "$AUTH" -H "If-None-Match: $ETAG"
expect_eq "$(code_of x-304.d)" 304 "direct conditional GET (harness)"
before=$(hits gms GET "$DOC")
via_ue x-304 GET "$GMS" "$DOC" -H "$AUTH" -H "If-None-Match: $ETAG"
expect_eq "$(code_of x-304)" 304 "conditional GET through the proxy"
expect_eq "$(hits gms GET "$DOC")" "$((before + 1))" "conditional GET: the GMS decided"
expect_relayed x-304 x-304.d "304"
expect_eq "$(header x-304 ETag)" "$ETAG" "304: ETag"
expect_eq "$(wc -c <"$TMP/x-304.body" | tr -d ' ')" 0 "304: no body"
via_ue x-inm-other GET "$GMS" "$DOC" -H "$AUTH" -H 'If-None-Match: "0000000000000000"'
expect_eq "$(code_of x-inm-other)" 200 "If-None-Match with another ETag: the full document"
cmp -s "$TMP/x-inm-other.body" "$TMP/x-get.d.body" || fail "If-None-Match with another ETag: body differs"

cat >"$TMP/group.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<list-service xmlns="urn:oma:xml:poc:list-service" uri="sip:fire-brigade-1@mcx.own.example">
  <display-name xml:lang="en-us">fire-brigade-1</display-name>
  <list>
    <entry uri="$ALICE"/>
    <entry uri="sip:bob@mcx.own.example"/>
    <entry uri="sip:carol@mcx.own.example"/>
  </list>
</list-service>
EOF
say "UE: XCAP PUT with If-Match of the current ETag"
direct x-put.d PUT "$GMS" "$DOC" -H "$AUTH" -H "Content-Type: $GROUPS_XML" -H "If-Match: $ETAG" \
    --data-binary "@$TMP/group.xml"
before=$(hits gms PUT "$DOC")
via_ue x-put PUT "$GMS" "$DOC" -H "$AUTH" -H "Content-Type: $GROUPS_XML" -H "If-Match: $ETAG" \
    --data-binary "@$TMP/group.xml"
expect_eq "$(code_of x-put)" 201 "XCAP PUT, current If-Match"
expect_eq "$(hits gms PUT "$DOC")" "$((before + 1))" "XCAP PUT reached the GMS once"
expect_relayed x-put x-put.d "XCAP PUT"
expect_eq "$(header x-put ETag)" "$ETAG" "XCAP PUT: ETag"

say "UE: the document body reaches the GMS byte for byte"
via_ue x-upload PUT "$GMS" "/upload$DOC" -H "$AUTH" -H "Content-Type: $GROUPS_XML" \
    --data-binary "@$TMP/group.xml"
expect_eq "$(code_of x-upload)" 200 "PUT /upload"
expect_eq "$(cat "$TMP/x-upload.body")" \
    "bytes=$(wc -c <"$TMP/group.xml" | tr -d ' ') sha256=$(sha256sum <"$TMP/group.xml" | cut -d' ' -f1)" \
    "document body at the GMS"

say "UE: XCAP PUT with a stale If-Match: 412"
STALE='"5ca1ab1e5ca1ab1e"'
direct x-412.d PUT "$GMS" "$DOC" -H "$AUTH" -H "Content-Type: $GROUPS_XML" -H "If-Match: $STALE" \
    --data-binary "@$TMP/group.xml"
expect_eq "$(code_of x-412.d)" 412 "direct stale PUT (harness)"
before=$(hits gms PUT "$DOC")
via_ue x-412 PUT "$GMS" "$DOC" -H "$AUTH" -H "Content-Type: $GROUPS_XML" -H "If-Match: $STALE" \
    --data-binary "@$TMP/group.xml"
expect_eq "$(code_of x-412)" 412 "XCAP PUT, stale If-Match"
expect_eq "$(hits gms PUT "$DOC")" "$((before + 1))" "stale PUT: the GMS decided"
expect_relayed x-412 x-412.d "412"
expect_match "$(cat "$TMP/x-412.body")" "current ETag is $ETAG" "412: the GMS's body"

say "UE: XCAP DELETE"
direct x-del.d DELETE "$GMS" "$DOC" -H "$AUTH" -H "If-Match: $ETAG"
before=$(hits gms DELETE "$DOC")
via_ue x-del DELETE "$GMS" "$DOC" -H "$AUTH" -H "If-Match: $ETAG"
expect_eq "$(code_of x-del)" 200 "XCAP DELETE"
expect_eq "$(hits gms DELETE "$DOC")" "$((before + 1))" "XCAP DELETE reached the GMS once"
expect_relayed x-del x-del.d "XCAP DELETE"
via_ue x-del412 DELETE "$GMS" "$DOC" -H "$AUTH" -H "If-Match: $STALE"
expect_eq "$(code_of x-del412)" 412 "XCAP DELETE, stale If-Match"

wait_log "$TMP/proxy.log" "listener=ue route=gms .*method=PUT .*status=412" 5 ||
    fail "the access log does not show the 412"
# shellcheck disable=SC2119 # stop_proxy's optional $1 is a timeout
stop_proxy
