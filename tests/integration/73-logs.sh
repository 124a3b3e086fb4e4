#!/bin/sh
# The access log to a file and its rotation: one line per request with the
# request id, client, listener, route, target, status, bytes, timings and
# TLS version; after the file is moved away, SIGUSR1 makes the proxy write
# to a new file at the configured path (logrotate's postrotate does this).
# Then the same as JSON (log.access_format = "json"): every line one valid
# JSON object, also for a path full of quotes, backslashes, percent-
# encoding and bytes that are not UTF-8, with the values of the text line,
# typed, and null where the text line has "-".
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
expect_match "$line" '^id=[0-9a-f]+ client=127\.0\.0\.1:[0-9]+ listener=ue route=kms target=127\.0\.0\.1:[0-9]+ method=GET host=kms\.mcx\.own\.example path="/one" status=200 req_bytes=0 resp_bytes=[0-9]+ time_ms=[0-9.]+ upstream_ms=[0-9.]+ tls=TLSv1\.3 peer=- proto=http/1\.1 up_proto=http/1\.1$' \
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

say "JSON access lines"
PROXY_PORT=$(free_port)
write_conf proxy-json.conf <<EOF2
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "$TMP/access-json.log"; access_format = "json"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key";
          client_auth = "optional"; client_ca = "$PKI/ca.pem"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
check_conf "$CONF"
start_proxy "$CONF"

curl_ue --cert "$PKI/client.pem" --key "$PKI/client.key" -o /dev/null \
    "$(ue_url kms.mcx.own.example /json/one)" || fail "JSON: first request"
# Sent raw: a client library would encode what a hostile client need not.
odd=$(printf 'GET /json/odd%%22%%20x/"q"\\b{|}^<>`?k="v" HTTP/1.1\r\nHost: kms.mcx.own.example\r\nConnection: close\r\n\r\n' |
    h1c --methods GET)
expect_match "$odd" '^1:STATUS HTTP/1\.1 200 ' "JSON: the odd path is forwarded"
# The parser refuses bytes past 0x7f (or controls) in a target: 400, and
# the line has no path rather than those bytes.
bad=$(printf 'GET /json/bad\303\377 HTTP/1.1\r\nHost: kms.mcx.own.example\r\n\r\n' |
    h1c --methods GET)
expect_match "$bad" '^1:STATUS HTTP/1\.1 400 ' "JSON: a target with raw bytes"
code=$(curl_code -H 'Host: nowhere.example' "$(ue_url proxy.mcx.own.example /json/refused)")
expect_eq "$code" 421 "JSON: unknown host"
refused_id=$(sed -n 's/^request-id: //p' "$TMP/body")
code=$(curl_code -H 'X-3GPP-Asserted-Identity: sip:bob@mcx.own.example' \
    "$(ue_url kms.mcx.own.example /json/forbidden)")
expect_eq "$code" 403 "JSON: asserted identity from a device"
n=0
until [ "$(wc -l <"$TMP/access-json.log")" -ge 5 ]; do
	n=$((n + 1))
	[ "$n" -lt 250 ] || fail "JSON: 5 access lines expected, got $(wc -l <"$TMP/access-json.log")"
	sleep 0.02
done
stop_proxy
expect_eq "$PROXY_STATUS" 0 "exit status (JSON)"

# Bytes, not text: json.loads then insists on valid UTF-8.
python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin.buffer]' \
    <"$TMP/access-json.log" || fail "JSON: a line is not valid JSON"
out=$(python3 - "$TMP/access-json.log" "$ORIGIN_PORT_KMS" "$refused_id" 2>&1 <<'EOF'
import calendar, json, re, sys, time
path, port, refused_id = sys.argv[1], sys.argv[2], sys.argv[3]
keys = ["time", "request_id", "client", "listener", "route", "target",
        "method", "host", "path", "status", "req_bytes", "resp_bytes",
        "duration_ms", "upstream_ms", "tls", "peer", "protocol",
        "upstream_protocol", "note"]
recs = [json.loads(l) for l in open(path, "rb")]
assert len(recs) == 5, "%d lines" % len(recs)
for r in recs:
    assert list(r) == keys, "keys %s" % list(r)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r
    t = calendar.timegm(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(t - time.time()) < 300, "time %s is not UTC now" % r["time"]
    assert re.fullmatch(r"[0-9a-f]{18}", r["request_id"]), r
    assert re.fullmatch(r"127\.0\.0\.1:\d+", r["client"]), r
    assert (r["listener"], r["tls"]) == ("ue", "TLSv1.3"), r
    for k in ("status", "req_bytes", "resp_bytes"):
        assert type(r[k]) is int, (k, r)
    assert type(r["duration_ms"]) is float and r["duration_ms"] >= 0, r
by = {r["path"]: r for r in recs}

r = by["/json/one"]
assert (r["status"], r["method"], r["route"], r["target"], r["host"]) == \
    (200, "GET", "kms", "127.0.0.1:" + port, "kms.mcx.own.example"), r
assert r["peer"] == "sip:alice@mcx.own.example", r
assert r["req_bytes"] == 0 and r["resp_bytes"] > 0, r
assert type(r["upstream_ms"]) is float and r["upstream_ms"] >= 0, r
assert r["note"] is None, r

# Kept as sent, without the query.
r = by['/json/odd%22%20x/"q"\\b{|}^<>`']
assert (r["status"], r["route"], r["method"], r["peer"]) == \
    (200, "kms", "GET", None), r

r = by[None]
assert (r["status"], r["method"], r["host"], r["route"], r["note"]) == \
    (400, None, None, None, "HPE_INVALID_URL"), r

r = by["/json/refused"]
assert (r["status"], r["method"], r["host"], r["route"], r["target"],
        r["upstream_ms"]) == (421, "GET", "nowhere.example", None, None, None), r
assert r["request_id"] == refused_id, (refused_id, r)
assert r["note"] == "this proxy does not serve that host", r

r = by["/json/forbidden"]
assert (r["status"], r["route"], r["target"]) == (403, None, None), r
assert r["note"].startswith("X-3GPP-Asserted-Identity"), r
EOF
) || fail "JSON fields: $out"
