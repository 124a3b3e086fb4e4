#!/bin/sh
# nginx as the upstream origin (a real, independent HTTP/1.1 server):
#   - a 300 KiB static file through the proxy is byte-identical to the file
#   - a range request (206) passes through with exactly the bytes asked for
#   - a HEAD gets the headers (Content-Length of the file) and no body
#   - a 404 passes through: status, and the same body as nginx sends directly
#   - keep-alive toward nginx is reused: the requests of 5 separate client
#     connections arrive on one nginx connection ($connection in a custom
#     access log format), with $connection_requests counting 1..N
# nginx runs with its own temporary configuration (-p prefix, -c conf,
# daemon off, single process, all paths under $TMP) on a free loopback port.
# Skipped (77) only when nginx is not installed; CI installs it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "nginx is not installed"

make_certs
NG=$TMP/nginx
mkdir -p "$NG/html/files" "$NG/tmp" "$NG/logs"
head -c 307200 /dev/urandom >"$NG/html/files/blob.bin"
printf 'hello from nginx\n' >"$NG/html/index.html"
NGINX_PORT=$(free_port)
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $NG/logs/error.log info;
pid $NG/nginx.pid;
events { worker_connections 128; }
http {
  types { text/html html; application/octet-stream bin; }
  default_type application/octet-stream;
  log_format conn '\$connection \$connection_requests "\$request" \$status';
  access_log $NG/logs/access.log conn;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000;
  server_tokens off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    server_name _;
    root $NG/html;
  }
}
EOF
"$NGINX" -t -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" >"$TMP/nginx-t.log" 2>&1 ||
    error "nginx -t failed: $(cat "$TMP/nginx-t.log")"
"$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" >"$TMP/nginx.log" 2>&1 &
NGINX_PID=$!
track "$NGINX_PID"
wait_port "$NGINX_PORT" 10 "$NGINX_PID" || fail "nginx does not listen on $NGINX_PORT: $(cat "$TMP/nginx.log" "$NG/logs/error.log")"
say "nginx pid $NGINX_PID on port $NGINX_PORT"
direct=$(curl -sS --max-time 10 "http://127.0.0.1:$NGINX_PORT/")
expect_eq "$direct" "hello from nginx" "nginx answers directly"
curl -sS --max-time 10 -o "$TMP/direct-404" "http://127.0.0.1:$NGINX_PORT/nope"

PROXY_PORT=$(free_port)
write_conf proxy.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "cms"; hosts = ["cms.mcx.own.example"];
    targets = ["127.0.0.1:$NGINX_PORT"]; }
);
EOF
start_proxy "$CONF"
U=$(ue_url cms.mcx.own.example "")
: >"$NG/logs/access.log"

# ---- static file, byte for byte -----------------------------------------------
code=$(curl_ue -D "$TMP/blob.h" -o "$TMP/blob.out" -w '%{http_code}' "$U/files/blob.bin" || true)
expect_eq "$code" 200 "static file status"
cmp "$TMP/blob.out" "$NG/html/files/blob.bin" >/dev/null 2>&1 ||
    fail "static file through the proxy differs from the file ($(wc -c <"$TMP/blob.out") bytes)"
expect_file_match "$TMP/blob.h" '^Content-Length: 307200' "static file Content-Length"
expect_file_match "$TMP/blob.h" '^Via: 1\.1 mcxproxy' "static file Via"

# ---- range -------------------------------------------------------------------------
code=$(curl_ue -o "$TMP/range.out" -w '%{http_code}' -r 1000-1999 "$U/files/blob.bin" || true)
expect_eq "$code" 206 "range request status"
tail -c +1001 "$NG/html/files/blob.bin" | head -c 1000 >"$TMP/range.exp"
cmp "$TMP/range.out" "$TMP/range.exp" >/dev/null 2>&1 || fail "range request body differs"

# ---- HEAD ------------------------------------------------------------------------------
code=$(curl_ue -I -o "$TMP/head.h" -w '%{http_code} %{size_download}' "$U/files/blob.bin" || true)
expect_eq "$code" "200 0" "HEAD: status and body size"
expect_file_match "$TMP/head.h" '^Content-Length: 307200' "HEAD: Content-Length of the file"

# ---- 404 ---------------------------------------------------------------------------------
code=$(curl_ue -o "$TMP/404.out" -w '%{http_code}' "$U/nope" || true)
expect_eq "$code" 404 "404 passes through"
cmp "$TMP/404.out" "$TMP/direct-404" >/dev/null 2>&1 ||
    fail "404 body differs from nginx's own: $(head -c 300 "$TMP/404.out")"
expect_file_match "$TMP/404.out" '404 Not Found' "404 body"

# ---- keep-alive toward nginx ----------------------------------------------------------------
i=1
while [ $i -le 5 ]; do
	code=$(curl_code "$U/index.html")
	expect_eq "$code" 200 "keep-alive: request $i"
	expect_eq "$(cat "$TMP/body")" "hello from nginx" "keep-alive: body $i"
	i=$((i + 1))
done
# nginx writes its access log line when a request ends; all 9 are done.
wait_log "$NG/logs/access.log" '"GET /index.html HTTP/1.1" 200' 5 || fail "nginx logged no request"
n=0
while [ "$(wc -l <"$NG/logs/access.log")" -lt 9 ] && [ $n -lt 100 ]; do
	sleep 0.05
	n=$((n + 1))
done
conns=$(awk '{ print $1 }' "$NG/logs/access.log" | sort -u | wc -l)
reqs=$(awk '{ print $2 }' "$NG/logs/access.log" | tr '\n' ' ')
expect_eq "$(wc -l <"$NG/logs/access.log" | tr -d ' ')" 9 "requests nginx logged"
expect_eq "$conns" 1 "nginx connections used by the proxy for 9 requests (log: $(tr '\n' '|' <"$NG/logs/access.log"))"
expect_eq "$reqs" "1 2 3 4 5 6 7 8 9 " "requests per nginx connection"
say "9 requests over 1 nginx connection"
stop_proxy
