#!/bin/sh
# Socket activation (systemd's LISTEN_FDS protocol), without systemd:
# tests/tools/sockact.py binds the listening sockets once and runs the proxy
# with them as descriptors 3, 4 (LISTEN_PID set in the child), and restarts
# it on SIGUSR1 the way "systemctl restart" does (SIGTERM, wait, start),
# keeping the sockets open in between.
#   under load (4 clients, one connection per request, on a TLS "ue" and a
#     plain "trusted" listener, 2 workers sharing each inherited socket), 20
#     restarts: no request refused or failed; the figures are printed
#   the control: the same load and restarts with the proxy binding its own
#     sockets refuse connections (so the first check can fail)
#   SIGHUP under socket activation keeps serving; a reload that removes an
#     inherited listener warns, and a later one that brings it back serves on
#     the same socket (binding it again would fail: it is in use)
#   a socket that matches no listener, the admin address, or an IPv6-only
#     "[::]" socket for a dual-stack listener: the start fails, and the
#     message names the address and what to change
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RESTARTS=20
HOST=gms.mcx.own.example
make_certs
start_origin gms
P_UE=$(free_port)
P_TR=$(free_port)
P_OTHER=$(free_port)
ADMIN=$(free_port)

# conf NAME [with-trusted]: a ue listener on P_UE, and with "yes" the
# trusted listener on P_TR.
conf() {
	_tr=""
	[ "${2:-yes}" != yes ] || _tr=",
  { role = \"trusted\"; address = \"127.0.0.1:$P_TR\"; allow = [\"127.0.0.0/8\"]; }"
	write_conf "$1" <<EOF
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "off"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$P_UE";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }$_tr
);
admin = { address = "127.0.0.1:$ADMIN"; };
servers = ( { name = "gms"; hosts = ["$HOST"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; } );
EOF
}
conf both.conf yes
BOTH=$CONF
conf ue-only.conf no
UE_ONLY=$CONF
CONF=$BOTH
cp "$BOTH" "$TMP/proxy.conf"
check_conf "$TMP/proxy.conf"

SA_PID=""
SA_STATUS=""
# sa_start NAME [--listen ADDR]...: sockact.py runs the proxy on
# $TMP/proxy.conf (log $TMP/NAME.log, events $TMP/NAME.status).
sa_start() {
	SA_STATUS=$TMP/$1.status
	_log=$TMP/$1.log
	shift
	python3 "$TOOLS/sockact.py" run --status "$SA_STATUS" "$@" -- \
	    "$MCXPROXY" -c "$TMP/proxy.conf" >"$_log" 2>&1 &
	SA_PID=$!
	track "$SA_PID"
}
# sa_ready N: waits for the Nth READY=1 of the proxy (10 s).
sa_ready() {
	wait_log "$SA_STATUS" "^ready $1 " 10 ||
	    fail "no READY=1 number $1 from the proxy: $(tail -n 3 "$SA_STATUS" 2>/dev/null)"
}
# sa_stop: stops sockact.py (and so the proxy); fails unless both exit 0.
sa_stop() {
	kill -TERM "$SA_PID"
	wait_dead "$SA_PID" 15 || fail "sockact.py still runs 15 s after SIGTERM"
	_rc=0
	wait "$SA_PID" || _rc=$?
	expect_eq "$_rc" 0 "exit status of the proxy after SIGTERM"
}
# proxy_pid: the pid of the proxy sockact.py started last.
proxy_pid() {
	awk '$1 == "start" { p = $3 } END { print p }' "$SA_STATUS"
}

LOAD_PID=""
# load_start NAME TARGET...: clients until load_stop; figures in
# $TMP/NAME.load.
load_start() {
	LOAD_OUT=$TMP/$1.load
	shift
	rm -f "$TMP/load.stop"
	_t=""
	for _p in "$@"; do
		_t="$_t --target $_p"
	done
	# shellcheck disable=SC2086 # one option per word
	python3 "$TOOLS/sockact.py" load --out "$LOAD_OUT" --stop-file "$TMP/load.stop" \
	    --cafile "$PKI/ca.pem" --max-seconds 40 $_t >"$TMP/load.log" 2>&1 &
	LOAD_PID=$!
	track "$LOAD_PID"
}
# load_stop: sets REQUESTS OK REFUSED FAILED.
load_stop() {
	touch "$TMP/load.stop"
	wait_file "$LOAD_OUT" 20 || fail "the load clients did not end: $(cat "$TMP/load.log")"
	wait "$LOAD_PID" || true
	read -r _ REQUESTS _ OK _ REFUSED _ FAILED <"$LOAD_OUT"
}
UE="tls:127.0.0.1:$P_UE:$HOST"
# served N: waits until the origin has N more requests than now (10 s).
served() {
	_want=$(($(origin_request_count gms) + $1))
	_i=0
	while [ "$(origin_request_count gms)" -lt "$_want" ]; do
		_i=$((_i + 1))
		[ "$_i" -lt 500 ] || fail "the origin did not get $1 more requests in 10 s"
		sleep 0.02
	done
}
TR="plain:127.0.0.1:$P_TR:$HOST"

# restarts FROM N: N restarts, each after the previous one is ready (as
# systemctl restart of a Type=notify unit); the first start was ready FROM.
restarts() {
	_i=1
	while [ "$_i" -le "$2" ]; do
		kill -USR1 "$SA_PID"
		sa_ready $(($1 + _i))
		_i=$((_i + 1))
	done
}

# ---- restarts under socket activation --------------------------------------
sa_start activated --listen "127.0.0.1:$P_UE" --listen "127.0.0.1:$P_TR"
sa_ready 1
expect_file_match "$TMP/activated.log" \
    "listener 127.0.0.1:$P_UE \(line [0-9]+\): socket from systemd \(descriptor 3, test.socket\)" \
    "the ue listener takes descriptor 3"
expect_file_match "$TMP/activated.log" \
    "listener 127.0.0.1:$P_TR \(line [0-9]+\): socket from systemd \(descriptor 4" \
    "the trusted listener takes descriptor 4"
expect_file_match "$TMP/activated.log" "2 listeners \(2 with sockets from systemd\)" \
    "the start line counts the inherited sockets"
# The admin listener binds its own socket.
wait_port "$ADMIN" 10 || fail "no admin listener"
load_start activated "$UE" "$TR" "$UE" "$TR"
served 20
restarts 1 "$RESTARTS"
served 20
load_stop
say "socket activation, $RESTARTS restarts under load: $REQUESTS requests, $OK served, $REFUSED refused, $FAILED failed"
[ "$((REFUSED + FAILED))" -eq 0 ] ||
    fail "requests refused or failed across restarts with socket activation: $(cat "$LOAD_OUT")"
[ "$OK" -ge 100 ] || fail "only $OK requests served: the load did not run"
starts=$(grep -c '^start ' "$SA_STATUS")
expect_eq "$starts" $((RESTARTS + 1)) "proxies started"
[ "$(grep -c ' with sockets from systemd' "$TMP/activated.log")" -eq $((RESTARTS + 1)) ] ||
    fail "not every start took the sockets from systemd"

# ---- SIGHUP under socket activation -----------------------------------------
ready=$((RESTARTS + 1))
load_start reload "$UE" "$UE"
served 20
# The same file: the sockets stay.
kill -HUP "$SA_PID"
ready=$((ready + 1))
sa_ready $ready
served 20
# Without the trusted listener: systemd's socket stays listening; warned.
cp "$UE_ONLY" "$TMP/proxy.conf"
kill -HUP "$SA_PID"
ready=$((ready + 1))
sa_ready $ready
expect_file_match "$TMP/activated.log" \
    "listener 127.0.0.1:$P_TR: no longer configured, but systemd keeps its socket" \
    "a reload that drops an inherited listener warns"
served 20
# And back: the same inherited socket serves again.
cp "$BOTH" "$TMP/proxy.conf"
kill -HUP "$SA_PID"
ready=$((ready + 1))
sa_ready $ready
served 20
load_stop
say "socket activation, 3 SIGHUPs under load: $REQUESTS requests, $OK served, $REFUSED refused, $FAILED failed"
[ "$((REFUSED + FAILED))" -eq 0 ] ||
    fail "requests refused or failed across SIGHUPs: $(cat "$LOAD_OUT")"
expect_no_match "$(cat "$TMP/activated.log")" "reload failed|cannot listen" \
    "reloads with inherited sockets"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $HOST" \
    "http://127.0.0.1:$P_TR/back" || true)
expect_eq "$code" 200 "the trusted listener, removed and brought back by reloads"
is_alive "$(proxy_pid)" || fail "the proxy died during the reloads"
sa_stop

# ---- the control: the same restarts, the proxy binding its sockets ----------
sa_start control
sa_ready 1
expect_no_match "$(cat "$TMP/control.log")" "socket from systemd" "the control binds its own sockets"
load_start control "$UE" "$TR" "$UE" "$TR"
served 20
restarts 1 "$RESTARTS"
load_stop
say "control without socket activation, $RESTARTS restarts: $REQUESTS requests, $OK served, $REFUSED refused, $FAILED failed"
[ "$REFUSED" -gt 0 ] ||
    fail "the control refused no connection: the test cannot tell activation from binding ($(cat "$LOAD_OUT"))"
sa_stop

# ---- sockets the configuration does not have ---------------------------------
# start_fails NAME MESSAGE-REGEX ARGS...: the proxy exits 1 at start and
# says MESSAGE-REGEX.
start_fails() {
	_what=$1
	_re=$2
	shift 2
	sa_start "$_what" "$@"
	wait_dead "$SA_PID" 10 || fail "$_what: the proxy did not exit"
	_rc=0
	wait "$SA_PID" || _rc=$?
	expect_eq "$_rc" 1 "$_what: exit status"
	expect_file_match "$TMP/$_what.log" "$_re" "$_what: the message"
	[ "$(grep -c '^ready ' "$SA_STATUS")" -eq 0 ] || fail "$_what: the proxy said READY=1"
}
start_fails unmatched \
    "the socket unit passes 127.0.0.1:$P_OTHER \(test.socket\), which no listener of .*proxy.conf has; make the socket unit's ListenStream= lines and the listeners' addresses the same" \
    --listen "127.0.0.1:$P_UE" --listen "127.0.0.1:$P_TR" --listen "127.0.0.1:$P_OTHER"
start_fails admin "the socket unit passes 127.0.0.1:$ADMIN .*the admin address.*remove ListenStream=127.0.0.1:$ADMIN" \
    --listen "127.0.0.1:$ADMIN"
# "[::]" takes IPv4 too; an IPv6-only socket from systemd would not.
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::", 0))' 2>/dev/null; then
	P6=$(free_port)
	write_conf proxy.conf <<EOF
domain = "mcx.own.example";
listeners = ( { role = "trusted"; address = "[::]:$P6"; allow = ["::1/128"]; } );
servers = ( { name = "gms"; hosts = ["$HOST"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; } );
EOF
	start_fails v6only "the socket \[::\]:$P6 \(test.socket\) is IPv6 only, but listener \[::\]:$P6 \(line [0-9]+\) takes IPv4 clients too: set BindIPv6Only=both" \
	    --v6only --listen "[::]:$P6"
else
	say "no IPv6 here: the IPv6-only check is not run"
fi
say "ok"
