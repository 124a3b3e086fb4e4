#!/bin/sh
# The access log to a file and its rotation: one line per request with the
# request id, client, listener, route, target, status, bytes, timings and
# TLS version; after the file is moved away, SIGUSR1 makes the proxy write
# to a new file at the configured path (logrotate's postrotate does this).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms
PROXY_PORT=$(free_port)
write_conf proxy.conf <<EOF2
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "$TMP/access.log"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
check_conf "$CONF"
start_proxy "$CONF"

curl_ue -o /dev/null "$(ue_url kms.mcx.own.example /one)" || fail "first request"
wait_log "$TMP/access.log" 'path="/one"' 5 || fail "no access line for /one"
line=$(grep 'path="/one"' "$TMP/access.log")
expect_match "$line" '^id=[0-9a-f]+ client=127\.0\.0\.1:[0-9]+ listener=ue route=kms target=127\.0\.0\.1:[0-9]+ method=GET host=kms\.mcx\.own\.example path="/one" status=200 req_bytes=0 resp_bytes=[0-9]+ time_ms=[0-9.]+ upstream_ms=[0-9.]+ tls=TLSv1\.3 peer=-$' \
    "access line fields"

say "rotation"
mv "$TMP/access.log" "$TMP/access.log.1"
kill -USR1 "$PROXY_PID"
n=0
until [ -f "$TMP/access.log" ]; do
	n=$((n + 1))
	[ "$n" -lt 250 ] || fail "no new access log after SIGUSR1"
	sleep 0.02
done
curl_ue -o /dev/null "$(ue_url kms.mcx.own.example /two)" || fail "second request"
wait_log "$TMP/access.log" 'path="/two"' 5 || fail "the request after rotation is not in the new file"
expect_no_match "$(cat "$TMP/access.log.1")" 'path="/two"' "nothing more in the rotated file"
expect_file_match "$TMP/access.log.1" 'path="/one"' "the rotated file keeps the old line"
stop_proxy
expect_eq "$PROXY_STATUS" 0 "exit status"
