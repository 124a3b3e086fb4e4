#!/bin/sh
# The command line and signals (contract section 2):
#   -t on a good file: "configuration OK", exit 0
#   -t on broken files: every error as FILE:LINE: message, right lines, exit 1
#     (unknown key, bad address, unreadable certificate, all in one file;
#     a libconfig syntax error; a key that does not match its certificate)
#   -V: the version, exit 0; -h: usage on stdout, exit 0; a bad option:
#     usage, non-zero exit
#   the shipped etc/mcxproxy.conf: only "file not found" errors as is, and
#     "configuration OK" once its files point at the test PKI
#   SIGTERM with a /slow?ms=1500 request in flight: new connections are
#     refused at once, the request completes with 200, the proxy exits 0
#     soon after (well within timeouts.drain = 5)
#   SIGTERM with a request longer than timeouts.drain = 1.0: the proxy exits
#     0 after about 1 s anyway
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MCXPROXY" ] || error "no mcxproxy binary at $MCXPROXY"
make_certs

now_ms() {
	date +%s%3N
}

# run_t FILE: mcxproxy -t -c FILE; sets OUT (stdout and stderr) and RC.
run_t() {
	RC=0
	OUT=$("$MCXPROXY" -t -c "$1" 2>&1) || RC=$?
}

# ---- -V, -h, bad option ------------------------------------------------------
rc=0
out=$("$MCXPROXY" -V 2>&1) || rc=$?
expect_eq "$rc" 0 "-V exit status"
expect_match "$out" '^mcxproxy [0-9]+\.[0-9]+(\.[0-9]+)?' "-V output"
rc=0
out=$("$MCXPROXY" -h 2>/dev/null) || rc=$?
expect_eq "$rc" 0 "-h exit status"
expect_match "$out" '^usage: mcxproxy' "-h prints usage on stdout"
expect_match "$out" '-t' "-h mentions -t"
rc=0
out=$("$MCXPROXY" -Z 2>&1) || rc=$?
expect_ne "$rc" 0 "a bad option: exit status"
expect_match "$out" 'usage: mcxproxy' "a bad option: usage"
say "-V: $("$MCXPROXY" -V)"

# ---- -t on a good file -----------------------------------------------------------
start_origin gms
std_conf good.conf
run_t "$CONF"
expect_eq "$RC" 0 "-t on a good file: exit status"
expect_eq "$OUT" "configuration OK" "-t on a good file: output"

# ---- -t on broken files ------------------------------------------------------------
# Line numbers matter: keep the layout.
write_conf broken.conf <<EOF
domain = "mcx.own.example";
workers = 1;
bogus_key = 5;
listeners = (
  { role = "ue";
    address = "127.0.0.1:99999";
    tls = { certificate = "$TMP/missing/proxy.pem";
            key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
run_t "$CONF"
expect_eq "$RC" 1 "-t on a file with 3 errors: exit status"
expect_match "$OUT" "^$CONF:3: .*bogus_key" "unknown key at line 3"
expect_match "$OUT" "^$CONF:6: .*127\\.0\\.0\\.1:99999" "bad address at line 6"
expect_match "$OUT" "^$CONF:7: .*$TMP/missing/proxy\\.pem" "unreadable certificate at line 7"
expect_eq "$(printf '%s\n' "$OUT" | grep -c -E "^$CONF:[0-9]+: ")" 3 "error lines for 3 errors: $OUT"
expect_no_match "$OUT" 'configuration OK' "-t on a broken file"
say "3 errors reported: $(printf '%s' "$OUT" | tr '\n' '|')"

write_conf syntax.conf <<EOF
domain = "mcx.own.example";
workers = 1;
timeouts = { drain = ; };
EOF
run_t "$CONF"
expect_eq "$RC" 1 "-t on a syntax error: exit status"
expect_match "$OUT" "^$CONF:3: " "syntax error at line 3"

write_conf mismatch.conf <<EOF
domain = "mcx.own.example";
workers = 1;
listeners = (
  { role = "ue"; address = "127.0.0.1:8443";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/origin.key"; }; }
);
EOF
run_t "$CONF"
expect_eq "$RC" 1 "-t with a key that does not match the certificate: exit status"
expect_match "$OUT" "^$CONF:[45]: .*(mismatch|does not match)" "key/certificate mismatch reported at the tls group"

# ---- the shipped example ---------------------------------------------------------------
shipped=$top_srcdir/etc/mcxproxy.conf
run_t "$shipped"
if [ "$RC" -ne 0 ]; then
	# Only missing files are allowed: this machine is not a production host.
	other=$(printf '%s\n' "$OUT" | grep -v -E "^$shipped:[0-9]+: (cannot read .*|access log folder .*): No such file or directory$" || true)
	[ -z "$other" ] || fail "etc/mcxproxy.conf has errors besides missing files: $other"
fi
cp "$PKI/ca.pem" "$TMP/partner-ca.pem"
sed -e "s|/etc/mcxproxy/tls/proxy.pem|$PKI/proxy-chain.pem|" \
    -e "s|/etc/mcxproxy/tls/proxy.key|$PKI/proxy.key|" \
    -e "s|/etc/mcxproxy/tls/proxy-client.pem|$PKI/client.pem|" \
    -e "s|/etc/mcxproxy/tls/proxy-client.key|$PKI/client.key|" \
    -e "s|/etc/mcxproxy/tls/[a-z-]*-ca.pem|$PKI/ca.pem|" \
    -e "s|/var/log/mcxproxy/access.log|$TMP/access.log|" \
    "$shipped" >"$TMP/shipped.conf"
expect_no_match "$(sed 's/#.*//' "$TMP/shipped.conf")" '/etc/mcxproxy|/var/log' "shipped copy still names system paths"
run_t "$TMP/shipped.conf"
expect_eq "$OUT" "configuration OK" "etc/mcxproxy.conf with the test PKI"
expect_eq "$RC" 0 "etc/mcxproxy.conf with the test PKI: exit status"

# ---- SIGTERM: drain -------------------------------------------------------------------------
# drain_conf NAME DRAIN: a one-worker proxy on a new PROXY_PORT.
drain_conf() {
	PROXY_PORT=$(free_port)
	write_conf "$1" <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { drain = $2; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
}
drain_conf drain.conf 5.0
start_proxy "$CONF"
expect_eq "$(curl_code "$(ue_url gms.mcx.own.example /conn)")" 200 "drain: request before SIGTERM"

: >"$TMP/origin-gms.requests"
curl_ue -o "$TMP/slow.body" -w '%{http_code}' \
    "$(ue_url gms.mcx.own.example "/slow?ms=1500")" >"$TMP/slow.code" 2>"$TMP/slow.err" &
slow=$!
wait_log "$TMP/origin-gms.requests" '^GET /slow' 10 || fail "drain: the slow request did not reach the origin"
t_term=$(now_ms)
kill -TERM "$PROXY_PID"
# New connections are refused while the request is still in flight.
python3 - "$PROXY_PORT" <<'EOF' >"$TMP/refused.out" 2>&1 || fail "drain: $(cat "$TMP/refused.out")"
import socket, sys, time
end = time.monotonic() + 1.0
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    if time.monotonic() > end:
        sys.exit("still accepting connections 1 s after SIGTERM")
    time.sleep(0.01)
EOF
t_refused=$(now_ms)
is_alive "$slow" || fail "drain: the slow request ended before new connections were refused"
wait "$slow" || true
expect_eq "$(cat "$TMP/slow.code")" 200 "drain: the request in flight at SIGTERM completes ($(cat "$TMP/slow.err"))"
expect_eq "$(cat "$TMP/slow.body")" "slept 1500 ms" "drain: its body"
wait_dead "$PROXY_PID" 5 || fail "drain: mcxproxy still running 5 s (timeouts.drain) after SIGTERM"
t_exit=$(now_ms)
rc=0
wait "$PROXY_PID" || rc=$?
PROXY_PID=""
expect_eq "$rc" 0 "drain: exit status after SIGTERM"
[ $((t_exit - t_term)) -le 3500 ] ||
    fail "drain: exit $((t_exit - t_term)) ms after SIGTERM; the only request ended at about 1500 ms"
say "SIGTERM: refused new connections after $((t_refused - t_term)) ms, exit 0 after $((t_exit - t_term)) ms"

# ---- SIGTERM: drain deadline ---------------------------------------------------------------
drain_conf deadline.conf 1.0
start_proxy "$CONF"
: >"$TMP/origin-gms.requests"
curl_ue -o /dev/null -w '%{http_code}' "$(ue_url gms.mcx.own.example "/slow?ms=6000")" \
    >"$TMP/long.code" 2>/dev/null &
long=$!
wait_log "$TMP/origin-gms.requests" '^GET /slow' 10 || fail "deadline: the slow request did not reach the origin"
t_term=$(now_ms)
kill -TERM "$PROXY_PID"
wait_dead "$PROXY_PID" 4 || fail "deadline: mcxproxy still running 4 s after SIGTERM with drain = 1.0"
t_exit=$(now_ms)
rc=0
wait "$PROXY_PID" || rc=$?
PROXY_PID=""
expect_eq "$rc" 0 "deadline: exit status"
dt=$((t_exit - t_term))
[ "$dt" -ge 800 ] && [ "$dt" -le 3000 ] || fail "deadline: exit $dt ms after SIGTERM (drain = 1.0)"
wait "$long" || true
expect_ne "$(cat "$TMP/long.code")" 200 "deadline: the request cut at the deadline"
say "drain deadline: exit 0 after $dt ms, the long request was cut"
