#!/bin/sh
# Nothing goes upstream until the request has passed.  A request whose body
# is refused for its framing (a bad chunk size, chunk data longer than its
# size, an over-long chunk line, a bad chunk after a good one) or for its
# size (limits.max_body_bytes) must not reach the upstream even in part:
# not its head, not a byte of its body, when the head and the bad bytes
# arrive together.  The upstream is tests/tools/recorder.py with --raw, which
# writes down every byte it receives on any connection; the test counts the
# bytes of each refused request found there (must be 0).
#
# Each case runs toward two servers: "pooled" (the request goes on a kept
# upstream connection at once) and "fresh" (pool.max_idle = 0: a new upstream
# connection is opened first, and the body bytes wait for it).  A valid
# chunked POST on each is the control: its bytes must arrive (the test would
# see them if the proxy forwarded refused ones the same way).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
rm -f "$TMP/rec.port"
python3 "$TOOLS/recorder.py" --ready-file "$TMP/rec.port" --dir "$TMP/rec" \
    --raw "$TMP/rec.raw" >"$TMP/rec.log" 2>&1 &
track $!
wait_file "$TMP/rec.port" 10 $! || fail "recorder did not start"
REC_PORT=$(cat "$TMP/rec.port")

PROXY_PORT=$(free_port)
write_conf proxy.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
limits = { max_body_bytes = 64; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "pooled"; hosts = ["pooled.mcx.own.example"];
    targets = ["127.0.0.1:$REC_PORT"]; },
  { name = "fresh"; hosts = ["fresh.mcx.own.example"];
    targets = ["127.0.0.1:$REC_PORT"]; pool = { max_idle = 0; }; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
start_proxy "$CONF"

BAD=""
bad() {
	echo "# $TEST_NAME: MISMATCH: $*" >&2
	BAD="$BAD
  $*"
}

# send HOST TAG STATUS BODY-PRINTF: a chunked POST /TAG to HOST, head and
# body in one TLS write (with Connection: close, so that the answer ends
# with the connection); checks the status.
send() {
	# shellcheck disable=SC2059
	printf "POST /$2 HTTP/1.1\r\nHost: $1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n$4" \
	    >"$TMP/req"
	python3 "$TOOLS/rawtls.py" "$PROXY_PORT" "$1" "$PKI/ca.pem" "$TMP/req" 5 \
	    "$TMP/meta" >"$TMP/resp" || fail "$2: raw client failed"
	_status=$(head -n 1 "$TMP/resp" | tr -d '\r')
	printf '%s\n' "$_status" | grep -q -E "^HTTP/1\\.1 $3 " ||
	    bad "$1 /$2: expected $3, got '$_status'"
}

# received TAG: bytes of the recorder's raw log that belong to requests
# tagged TAG (from the "POST /TAG" line to the next request line).
received() {
	python3 - "$TMP/rec.raw" "$1" <<'EOF'
import re, sys
raw = open(sys.argv[1], "rb").read()
n = 0
for m in re.finditer(rb"POST /" + re.escape(sys.argv[2].encode()) + rb" ", raw):
    nxt = re.search(rb"(GET|POST) /", raw[m.end():])
    n += (nxt.start() if nxt else len(raw) - m.end()) + len(m.group(0))
print(n)
EOF
}

LONGEXT=$(head -c 2000 /dev/zero | tr '\0' x)
for h in pooled fresh; do
	H=$h.mcx.own.example
	code=$(curl_code "$(ue_url "$H" /warm)")
	expect_eq "$code" 200 "$h: warm-up GET"
	send "$H" "gate-size-$h" 400 "zz\r\nhello\r\n0\r\n\r\n"
	send "$H" "gate-crlf-$h" 400 "5\r\nhelloXX0\r\n\r\n"
	send "$H" "gate-longer-$h" 400 "5\r\nhello world\r\n0\r\n\r\n"
	send "$H" "gate-ext-$h" 400 "5;$LONGEXT\r\nhello\r\n0\r\n\r\n"
	send "$H" "gate-second-$h" 400 "5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n"
	send "$H" "gate-limit-$h" 413 "64\r\n$(head -c 100 /dev/zero | tr '\0' a)\r\n0\r\n\r\n"
	send "$H" "pass-$h" 200 "5\r\nhello\r\n0\r\n\r\n"
	# The next request on the kept connection comes after anything the
	# refused ones could have sent on it.
	code=$(curl_code "$(ue_url "$H" /after)")
	expect_eq "$code" 200 "$h: GET after the refusals"
done

wait_log "$TMP/rec.raw" "GET /after" 10 || fail "the recorder never got GET /after"
for h in pooled fresh; do
	for c in size crlf longer ext second limit; do
		n=$(received "gate-$c-$h")
		if [ "$n" = 0 ]; then
			say "$h: refused body ($c): 0 bytes reached the upstream"
		else
			bad "$h: refused body ($c): $n bytes reached the upstream"
		fi
	done
	n=$(received "pass-$h")
	[ "$n" -gt 0 ] || bad "$h: the valid chunked POST never reached the upstream"
	say "$h: valid chunked POST: $n bytes reached the upstream"
done
say "recorder got $(wc -c <"$TMP/rec.raw" | tr -d ' ') bytes in all"

[ -z "$BAD" ] || fail "mismatches:$BAD"

