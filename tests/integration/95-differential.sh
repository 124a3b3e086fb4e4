#!/bin/sh
# Differential check against HAProxy (issue 5): tests/tools/diffcases.py
# sends the same odd-but-legal requests (long URI, many fields, unusual
# methods, percent-encoding, Expect, trailers, chunk extensions, absolute
# form, HTTP/1.0, a 1 MiB body...) and illegal ones (CL+TE, two lengths,
# bad Transfer-Encoding, space before colon, obs-fold, bad chunk size, NUL,
# CR or control bytes, missing or repeated Host, bad method, version or
# field name...) through mcxproxy and through Debian's HAProxy, each to its
# own recording upstream (tests/tools/recorder.py).  mcxproxy must forward
# every legal one as HAProxy does (same method, target, end-to-end fields,
# body, trailers) and must forward no illegal one.  The table is printed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v haproxy >/dev/null 2>&1 || error "haproxy is not installed (scripts/deps.sh test set)"

# recorder NAME: a recording upstream; sets REC_PORT.
recorder() {
	rm -f "$TMP/rec-$1.port"
	python3 "$TOOLS/recorder.py" --ready-file "$TMP/rec-$1.port" --dir "$TMP/rec-$1" \
	    >"$TMP/rec-$1.log" 2>&1 &
	track $!
	wait_file "$TMP/rec-$1.port" 10 $! || fail "recorder $1 did not start"
	REC_PORT=$(cat "$TMP/rec-$1.port")
}

recorder ha
HA_REC=$REC_PORT
recorder mx
MX_REC=$REC_PORT
HA_PORT=$(free_port)
PROXY_PORT=$(free_port)

cat >"$TMP/haproxy.cfg" <<EOF
global
    maxconn 200
    tune.bufsize 32768
defaults
    mode http
    timeout connect 3s
    timeout client 5s
    timeout server 5s
    timeout http-request 5s
frontend fe
    bind 127.0.0.1:$HA_PORT
    default_backend be
backend be
    server rec 127.0.0.1:$HA_REC
EOF
haproxy -c -f "$TMP/haproxy.cfg" >"$TMP/haproxy-check.log" 2>&1 ||
    fail "haproxy -c: $(cat "$TMP/haproxy-check.log")"
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
track $!
wait_port "$HA_PORT" 10 $! || fail "haproxy does not listen"

write_conf diff.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "trusted"; address = "127.0.0.1:$PROXY_PORT"; allow = ["127.0.0.0/8"]; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$MX_REC"]; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF"

rc=0
python3 "$TOOLS/diffcases.py" --mcx "$PROXY_PORT" --mcx-dir "$TMP/rec-mx" \
    --haproxy "$HA_PORT" --ha-dir "$TMP/rec-ha" >"$TMP/diff.out" 2>&1 || rc=$?
cat "$TMP/diff.out" >&2
[ "$rc" -eq 0 ] || fail "differential check: $(tail -n 1 "$TMP/diff.out")"
say "$(tail -n 1 "$TMP/diff.out")"
stop_proxy
