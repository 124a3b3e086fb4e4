#!/bin/sh
# HTTP/1.1 on both hops: client and upstream keep-alive, large bodies in
# every framing (sized, chunked, close-delimited) both ways, pipelining,
# HEAD, Expect: 100-continue, HTTP/1.0 clients and absolute-form targets.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# gms: an own server without paths, so every path of its host is routed.
start_origin gms
std_conf proxy.conf
start_proxy "$CONF"
K=gms.mcx.own.example

# ---- keep-alive toward the client ----------------------------------------------
say "client keep-alive"
out=$(curl_ue -v -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects}\n' \
    "$(ue_url $K /conn)" "$(ue_url $K /conn)" 2>"$TMP/curl-ka.err") ||
    fail "two GETs in one curl: $(cat "$TMP/curl-ka.err")"
expect_eq "$(printf '%s' "$out" | tr '\n' ' ')" "200:1 200:0" "status:TCP connects per transfer (the second must reuse)"
expect_file_match "$TMP/curl-ka.err" 'Re-using existing connection' \
    "curl reuses the TLS connection"

# ---- keep-alive toward the upstream ----------------------------------------------
say "upstream keep-alive"
c1=$(curl_ue -D - -o /dev/null "$(ue_url $K /conn)" | tr -d '\r' |
    sed -n 's/^X-Conn-Id: //Ip')
c2=$(curl_ue -D - -o /dev/null "$(ue_url $K /conn)" | tr -d '\r' |
    sed -n 's/^X-Conn-Id: //Ip')
expect_match "$c1" '^[0-9]+$' "X-Conn-Id of the first client connection"
expect_eq "$c2" "$c1" "upstream connection reused across client connections"

# ---- request bodies ----------------------------------------------------------------
say "8 MiB sized upload"
head -c 8388608 /dev/urandom >"$TMP/up8"
sum8=$(sha256sum <"$TMP/up8" | cut -d' ' -f1)
body=$(curl_ue --data-binary @"$TMP/up8" -H 'Content-Type: application/octet-stream' \
    "$(ue_url $K /upload)") || fail "8 MiB POST failed"
expect_eq "$body" "bytes=8388608 sha256=$sum8" "8 MiB POST at the origin"

say "chunked upload"
head -c 3000001 /dev/urandom >"$TMP/up3"
sum3=$(sha256sum <"$TMP/up3" | cut -d' ' -f1)
body=$(curl_ue -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/up3" \
    "$(ue_url $K /upload)") || fail "chunked POST failed"
expect_eq "$body" "bytes=3000001 sha256=$sum3" "chunked POST at the origin"

# ---- response bodies: 20 MiB in each framing -------------------------------------------
N=20971520
want=$(python3 "$TOOLS/origin.py" --emit-bytes $N | sha256sum | cut -d' ' -f1)
for q in "" "&chunked=1" "&close=1"; do
	say "20 MiB download n=$N$q"
	rm -f "$TMP/down"
	code=$(curl_ue -o "$TMP/down" -w '%{http_code}' "$(ue_url $K "/bytes?n=$N$q")") ||
	    fail "download /bytes?n=$N$q: curl failed"
	expect_eq "$code" 200 "status of /bytes?n=$N$q"
	expect_eq "$(wc -c <"$TMP/down" | tr -d ' ')" "$N" "size of /bytes?n=$N$q"
	expect_eq "$(sha256sum <"$TMP/down" | cut -d' ' -f1)" "$want" "sha256 of /bytes?n=$N$q"
done

# ---- pipelining ---------------------------------------------------------------------------
# Three requests in one TLS write; the first is the slowest, so answers in
# completion order instead of request order would show.
say "pipelining"
out=$(printf 'GET /slow?ms=300 HTTP/1.1\r\nHost: %s\r\n\r\nGET /pipe-two HTTP/1.1\r\nHost: %s\r\n\r\nGET /pipe-three HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' $K $K $K |
    h1c --methods GET,GET,GET --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "pipelined response 1 status"
expect_match "$out" '^1:B slept 300 ms$' "pipelined response 1 is /slow"
expect_match "$out" '^2:STATUS HTTP/1\.1 200' "pipelined response 2 status"
expect_match "$out" '^2:B origin gms: GET /pipe-two$' "pipelined response 2 is /pipe-two"
expect_match "$out" '^3:STATUS HTTP/1\.1 200' "pipelined response 3 status"
expect_match "$out" '^3:B origin gms: GET /pipe-three$' "pipelined response 3 is /pipe-three"
expect_no_match "$out" '^(4:|EXTRA|TRUNCATED)' "nothing but three responses"
expect_match "$out" '^EOF clean$' "connection closed after Connection: close"

# ---- HEAD ------------------------------------------------------------------------------------
# A GET follows the HEAD on the same connection: a body after the HEAD
# response would be parsed as the next response and break it.
say "HEAD"
out=$(printf 'HEAD /bytes?n=1000 HTTP/1.1\r\nHost: %s\r\n\r\nHEAD /bytes?n=5000&chunked=1 HTTP/1.1\r\nHost: %s\r\n\r\nGET /after-head HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' $K $K $K |
    h1c --methods HEAD,HEAD,GET --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "HEAD status"
expect_match "$out" '^1:H Content-Length: 1000$' "HEAD keeps Content-Length"
expect_match "$out" '^2:STATUS HTTP/1\.1 200' "HEAD (chunked) status"
expect_match "$out" '^3:STATUS HTTP/1\.1 200' "GET after HEAD: status line right after the HEAD heads"
expect_match "$out" '^3:B origin gms: GET /after-head$' "GET after HEAD body"
expect_no_match "$out" '^(4:|EXTRA|TRUNCATED)' "no body bytes after the HEAD responses"
h=$(curl_ue -sS -I "$(ue_url $K /bytes?n=1000)") || fail "curl -I failed"
expect_match "$h" '^HTTP/1\.1 200' "curl -I status"

# ---- Expect: 100-continue --------------------------------------------------------------------------
say "Expect: 100-continue"
head -c 4096 /dev/urandom >"$TMP/up4k"
sum4k=$(sha256sum <"$TMP/up4k" | cut -d' ' -f1)
body=$(curl_ue -v -H 'Expect: 100-continue' --data-binary @"$TMP/up4k" \
    "$(ue_url $K /upload)" 2>"$TMP/curl-100.err") || fail "POST with Expect failed"
expect_eq "$body" "bytes=4096 sha256=$sum4k" "body after 100-continue"
st=$(tr -d '\r' <"$TMP/curl-100.err" | sed -n 's/^< \(HTTP\/[0-9.]* [0-9]*\).*/\1/p' | tr '\n' ' ')
expect_eq "$st" "HTTP/1.1 100 HTTP/1.1 200 " "status lines seen by curl (100 Continue, then 200)"

# ---- HTTP/1.0 -------------------------------------------------------------------------------------
say "HTTP/1.0 client"
out=$(printf 'GET /headers HTTP/1.0\r\nHost: %s\r\n\r\n' $K | h1c --methods GET --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.[01] 200' "HTTP/1.0 request status"
expect_match "$out" '^1:B GET /headers HTTP/1\.1$' "HTTP/1.0 request forwarded"
expect_no_match "$out" '^1:H Transfer-Encoding' "no chunked coding toward an HTTP/1.0 client"
expect_no_match "$out" '^(EXTRA|TRUNCATED)' "HTTP/1.0 response framing"
expect_match "$out" '^EOF clean$' "proxy closes the HTTP/1.0 connection"
# An upstream chunked body must reach an HTTP/1.0 client de-chunked.
want=$(python3 "$TOOLS/origin.py" --emit-bytes 300000 | sha256sum | cut -d' ' -f1)
printf 'GET /bytes?n=300000&chunked=1 HTTP/1.0\r\nHost: %s\r\n\r\n' $K >"$TMP/req10"
python3 - "$PROXY_PORT" "$PKI/ca.pem" "$TMP/req10" "$TMP/resp10" <<'PYEOF' ||
import socket, ssl, sys, time
port, cafile, req, resp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname="proxy.mcx.own.example")
s.sendall(open(req, "rb").read())
data = bytearray()
end = time.monotonic() + 10
while time.monotonic() < end:
    d = s.recv(65536)
    if not d:
        break
    data += d
else:
    sys.exit("the proxy did not close the HTTP/1.0 connection")
open(resp, "wb").write(data)
PYEOF
    fail "HTTP/1.0 GET of a chunked upstream body (see above)"
head10=$(python3 -c 'import sys
sys.stdout.write(open(sys.argv[1], "rb").read().split(b"\r\n\r\n", 1)[0].decode("latin-1"))' "$TMP/resp10")
expect_match "$head10" '^HTTP/1\.[01] 200' "HTTP/1.0 GET of a chunked upstream body: status"
expect_no_match "$head10" '^Transfer-Encoding' "HTTP/1.0 GET of a chunked upstream body: no chunked coding"
got=$(python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(d.split(b"\r\n\r\n", 1)[1])' "$TMP/resp10" | sha256sum | cut -d' ' -f1)
expect_eq "$got" "$want" "chunked upstream body to an HTTP/1.0 client (de-chunked, close-delimited)"

# ---- absolute-form -----------------------------------------------------------------------------------
say "absolute-form target"
: >"$TMP/origin-gms.requests"
out=$(printf 'GET http://%s/headers?abs=1 HTTP/1.1\r\nHost: other.mcx.own.example\r\nConnection: close\r\n\r\n' $K |
    h1c --methods GET --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.1 200' "absolute-form status"
expect_match "$out" '^1:B GET /headers\?abs=1 HTTP/1\.1$' "origin-form request line upstream"
expect_match "$out" "^1:B Host: $K\$" "Host from the absolute URI upstream"
expect_eq "$(printf '%s\n' "$out" | grep -c -i '^1:B Host:')" 1 "one Host field upstream"
expect_eq "$(origin_requests gms)" "GET /headers?abs=1" "request line logged by the origin"
# The same through curl using the proxy as an HTTPS forward proxy.
body=$(curl -sS --max-time "$CURL_MAX_TIME" --proxy "https://127.0.0.1:$PROXY_PORT" \
    --proxy-cacert "$PKI/ca.pem" "http://$K/headers?via=curl") ||
    fail "curl --proxy failed"
expect_match "$body" '^GET /headers\?via=curl HTTP/1\.1$' "curl --proxy: origin-form upstream"
expect_match "$body" "^Host: $K\$" "curl --proxy: Host upstream"

# ---- HTTP/1.0 client announcing ALPN "http/1.0" -----------------------------------------------------
# curl --http1.0 offers only "http/1.0" in ALPN.  The proxy serves HTTP/1.0
# requests, so it must not refuse the handshake (nginx accepts http/1.0 and
# http/0.9 in ALPN; HAProxy goes on without ALPN).
say "HTTP/1.0 client with ALPN http/1.0"
want=$(python3 "$TOOLS/origin.py" --emit-bytes 100000 | sha256sum | cut -d' ' -f1)
rc=0
curl_ue --http1.0 -o "$TMP/down10" "$(ue_url $K '/bytes?n=100000&close=1')" 2>"$TMP/curl10.err" || rc=$?
expect_eq "$rc" 0 "curl --http1.0 exit status ($(cat "$TMP/curl10.err"))"
expect_eq "$(sha256sum <"$TMP/down10" | cut -d' ' -f1)" "$want" "curl --http1.0 close-delimited body"

# ---- HEAD answered by the proxy itself ------------------------------------------------------------
# Its answer keeps the connection (421) and must carry no body: a body would
# be read as the response to the next request on the connection.
say "HEAD refused by the proxy, then a GET on the same connection"
out=$(printf 'HEAD /x HTTP/1.1\r\nHost: nope.example\r\n\r\nGET /y HTTP/1.1\r\nHost: nope.example\r\nConnection: close\r\n\r\n' |
    h1c --methods HEAD,GET --wait-eof)
expect_match "$out" '^1:STATUS HTTP/1\.1 421' "HEAD to an unknown host: 421"
expect_match "$out" '^2:STATUS HTTP/1\.1 421' "the GET after it: its own 421, not the HEAD's body"
