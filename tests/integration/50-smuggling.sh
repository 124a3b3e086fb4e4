#!/bin/sh
# Request smuggling and malformed requests (contract section 4: 400
# malformed, 501 unknown transfer coding, 505 bad HTTP version).  Exact
# bytes go over TLS (python ssl client below); for each request the test
# asserts: one response, with the expected status, the connection closed
# by the proxy afterwards, and nothing forwarded.
#
# "Nothing forwarded" is asserted two ways:
#   - requests rejected at the head: the origin's request log
#     (--log-requests) stays empty across all of them;
#   - requests whose head is valid but whose chunked body is malformed
#     (bad chunk size, chunk size overflow, missing CRLF after chunk data):
#     the head may legitimately be forwarded before the bad chunk is seen,
#     so the assertion is that the origin never completes a request (its
#     stderr log has no line for an answered POST /upload, the client sees
#     no "bytes=" answer) and never sees the request smuggled behind it.
# Every malformed request is followed on the same connection by
# "GET /smuggled": it must never reach the origin.
#
# Where the RFCs leave a choice, the test pins the strict one:
#   - duplicate identical Content-Length ("Content-Length: 5" twice): RFC
#     9112 6.3 allows accepting it as one value or rejecting it -> 400;
#   - obs-fold: RFC 9112 5.2 allows rejecting or unfolding to SP -> 400;
#   - DEL (0x7f) in a field value: not a field-vchar (RFC 9110 5.5) -> 400.
# Transfer-Encoding with chunked not last ("chunked, gzip") is 400, not 501:
# RFC 9112 6.3 says the body length cannot be determined -> 400 and close.
# An unknown coding before chunked ("gzip, chunked") is 501 (contract).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

start_origin gms
std_conf proxy.conf
start_proxy "$CONF"

H=gms.mcx.own.example


SMUGGLED="GET /smuggled HTTP/1.1\r\nHost: $H\r\n\r\n"

# case_ NAME EXPECTED-STATUS PRINTF-FORMAT: sends the bytes (printf format:
# \r \n \000 escapes) followed by the smuggled GET, and checks the answer.
# A mismatch is recorded in BAD (all cases run; the test fails at the end).
BAD=""
bad() {
	echo "# $TEST_NAME: MISMATCH: $*" >&2
	BAD="$BAD
  $*"
}
case_() {
	_name=$1
	_want=$2
	# shellcheck disable=SC2059
	printf "$3$SMUGGLED" >"$TMP/req"
	python3 "$TOOLS/rawtls.py" "$PROXY_PORT" "$H" "$PKI/ca.pem" "$TMP/req" 5 \
	    "$TMP/meta" >"$TMP/resp" || fail "$_name: raw client failed"
	_status=$(head -n 1 "$TMP/resp" | tr -d '\r')
	_nresp=$(grep -c -a '^HTTP/1\.[01] [0-9][0-9][0-9]' "$TMP/resp" || true)
	_ok=true
	if ! printf '%s\n' "$_status" | grep -q -E "^HTTP/1\\.1 $_want "; then
		bad "$_name: expected $_want, got '$_status'"
		_ok=false
	fi
	[ "$_nresp" = 1 ] || { bad "$_name: $_nresp responses"; _ok=false; }
	grep -q -a '^Connection: close' "$TMP/resp" ||
	    { bad "$_name: no Connection: close"; _ok=false; }
	grep -q -E '^(eof|reset) ' "$TMP/meta" ||
	    { bad "$_name: connection left open"; _ok=false; }
	if grep -q -a 'bytes=' "$TMP/resp"; then
		bad "$_name: the origin answered the upload"
		_ok=false
	fi
	if $_ok; then
		say "$_name: $_status"
	fi
	# Requests of this case that reached the origin, to report them.
	_seen=$(origin_request_count gms)
	if [ "$_seen" != "${SEEN:-0}" ]; then
		say "$_name: the origin got: $(origin_requests gms | tail -n $((_seen - ${SEEN:-0})) | tr '\n' ' ')"
	fi
	SEEN=$_seen
}

# ---- rejected at the head: nothing reaches the origin -----------------------
case_ "CL + TE" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
case_ "TE + CL" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
case_ "two differing Content-Length" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
case_ "Content-Length list" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5, 6\r\n\r\nhello!"
case_ "duplicate identical Content-Length" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
case_ "signed Content-Length" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: +5\r\n\r\nhello"
case_ "obs-fold continuation line" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nX-A: a\r\n b\r\n\r\n"
case_ "obs-fold of Transfer-Encoding" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\nhello"
case_ "bare LF line endings" 400 \
    "GET /headers HTTP/1.1\nHost: $H\n\n"
case_ "bare LF inside a CRLF head" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\nX-A: b\r\n\r\n"
case_ "bare CR" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\rX-A: b\r\n\r\n"
case_ "space in a field name" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nFoo Bar: x\r\n\r\n"
case_ "space before the colon" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nFoo : x\r\n\r\n"
case_ "space before the colon of Transfer-Encoding" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
case_ "NUL in a field value" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nX-A: a\000b\r\n\r\n"
case_ "DEL in a field value" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nX-A: a\177b\r\n\r\n"
case_ "second Host" 400 \
    "GET /headers HTTP/1.1\r\nHost: $H\r\nHost: kms.mcx.own.example\r\n\r\n"
case_ "missing Host in HTTP/1.1" 400 \
    "GET /headers HTTP/1.1\r\nX-A: b\r\n\r\n"
case_ "Transfer-Encoding: gzip, chunked" 501 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
case_ "Transfer-Encoding: chunked, chunked" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
case_ "Transfer-Encoding: chunked twice" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
# RFC 9112 6.3: chunked not the final coding of a request -> 400.
case_ "Transfer-Encoding: chunked, gzip (chunked not last)" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"
case_ "HTTP/1.2" 505 \
    "GET /headers HTTP/1.2\r\nHost: $H\r\n\r\n"
case_ "malformed version" 400 \
    "GET /headers HTTP/1.x\r\nHost: $H\r\n\r\n"
case_ "absolute-form with userinfo" 400 \
    "GET http://user:pw@$H/headers HTTP/1.1\r\nHost: $H\r\n\r\n"
case_ "absolute-form with userinfo (https)" 400 \
    "GET https://evil.example@$H/headers HTTP/1.1\r\nHost: $H\r\n\r\n"
[ "$(origin_request_count gms)" = 0 ] ||
    bad "requests rejected at the head reached the origin: $(origin_requests gms | tr '\n' ' ')"
: >"$TMP/origin-gms.requests"
SEEN=0

# ---- bad chunked bodies: the head may go up, a request never completes --------
case_ "bad chunk size" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
case_ "chunk size overflow" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n"
case_ "chunk data without CRLF" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
case_ "chunk size with LF only" 400 \
    "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"

# The origin may have logged the heads; give it a moment to log anything it
# would complete (it answers as soon as a body ends), then check.
wait_log "$TMP/origin-gms.log" '"POST /upload HTTP/1.1" 200' 1 &&
    bad "the origin completed a malformed chunked upload: $(grep -a -c '"POST /upload HTTP/1.1" 200' "$TMP/origin-gms.log") times"
if origin_requests gms | grep -q -v '^POST /upload$'; then
	bad "the origin got something other than the upload heads: $(origin_requests gms | tr '\n' ' ')"
fi
say "origin saw $(origin_request_count gms) upload heads, none completed"

# ---- the proxy still serves, and a well-formed request passes ----------------
printf "POST /upload HTTP/1.1\r\nHost: $H\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /conn HTTP/1.1\r\nHost: $H\r\nConnection: close\r\n\r\n" >"$TMP/req"
python3 "$TOOLS/rawtls.py" "$PROXY_PORT" "$H" "$PKI/ca.pem" "$TMP/req" 5 "$TMP/meta" \
    >"$TMP/resp" || fail "raw client failed"
expect_eq "$(grep -c -a '^HTTP/1\.1 200 ' "$TMP/resp")" 2 "control: two pipelined requests answered"
expect_match "$(cat "$TMP/resp")" 'bytes=5 sha256=2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824' \
    "control: chunked upload"

[ -z "$BAD" ] || fail "malformed requests not refused as expected:$BAD"
