# shellcheck shell=sh
# tests/integration/lib.sh: the shared library of mcxproxy's integration tests
# (hitch style).  A test is a short POSIX sh script:
#
#	#!/bin/sh
#	. "$(dirname "$0")/lib.sh"
#	make_certs
#	start_origin kms
#	std_conf proxy.conf
#	start_proxy "$CONF"
#	body=$(curl_ue -X POST --data '<KmsRequest/>' "$(ue_url kms.mcx.own.example /keymanagement/identity/v1/init)")
#	expect_match "$body" '<KmsResponse' "KMS answer"
#
# Each test gets its own folder $TMP (mktemp -d).  On exit every process the
# test started is stopped; the folder is removed when the test passed or was
# skipped, and kept, with its logs dumped, when it failed.  Exit codes are
# automake's: 0 pass, 1 fail, 77 skip, 99 hard error.  Readiness is always
# polled with a deadline: no fixed sleeps, no fixed ports, so tests run in
# parallel (make -j check).
#
# Environment: top_srcdir and top_builddir (set by make check; by default the
# tree this file is in and the current folder), MCXPROXY (default
# $top_builddir/mcxproxy), CURL_MAX_TIME (default 30 s per curl call).
# Do not call fail/skip inside $(...): they would only leave the subshell.

set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
: "${MCXPROXY:=$top_builddir/mcxproxy}"
: "${CURL_MAX_TIME:=30}"
TOOLS=$top_srcdir/tests/tools
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcx-$TEST_NAME.XXXXXX")
PKI=$TMP/pki
PIDS=""
PROXY_PID=""
PROXY_PORT=${PROXY_PORT:-}
PROXY_STATUS=""
CONF=""
export top_srcdir top_builddir

# ---- outcome --------------------------------------------------------------

# say MSG...: a progress line in the test's log.
say() {
	echo "# $TEST_NAME: $*"
}

# fail MSG: the test failed (exit 1); logs are dumped by the cleanup.
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# skip MSG: the test cannot run here (exit 77).
skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

# error MSG: the harness itself broke (exit 99).
error() {
	echo "ERROR: $TEST_NAME: $*" >&2
	exit 99
}

# ---- processes --------------------------------------------------------------

# track PID: stop PID when the test ends.
track() {
	PIDS="$PIDS $1"
}

# is_alive PID: true while PID runs (a zombie counts as dead).
is_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# wait_dead PID SECONDS: polls until PID has exited; false on timeout.
wait_dead() {
	_n=$(( $2 * 50 ))
	while is_alive "$1"; do
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || return 1
		sleep 0.02
	done
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
	is_alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	if ! wait_dead "$1" 5; then
		echo "# pid $1 ignored SIGTERM for 5 s: SIGKILL" >&2
		kill -KILL "$1" 2>/dev/null || true
		wait_dead "$1" 5 || true
	fi
}

# dump_logs: every *.log of the test folder to stderr (bounded).
dump_logs() {
	for _f in "$TMP"/*.log "$TMP"/*.requests; do
		[ -f "$_f" ] || continue
		echo "---- ${_f#"$TMP"/} (last 200 lines) ----" >&2
		tail -n 200 "$_f" >&2
	done
}

cleanup() {
	_rc=$?
	set +e
	for _p in $PIDS; do
		stop_pid "$_p"
	done
	# A sanitizer report anywhere fails the test, even if the checks passed.
	if [ "$_rc" -eq 0 ] && grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$TMP"/*.log >/dev/null 2>&1; then
		echo "FAIL: $TEST_NAME: sanitizer report in the logs" >&2
		_rc=1
	fi
	if [ "$_rc" -eq 0 ] || [ "$_rc" -eq 77 ]; then
		rm -rf "$TMP"
	else
		dump_logs
		echo "# $TEST_NAME: exit $_rc; files kept in $TMP" >&2
	fi
	exit "$_rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- waiting ------------------------------------------------------------------

# free_port: prints a TCP port that was free a moment ago on 127.0.0.1,
# and never one it gave this test before (the kernel may hand the same
# ephemeral port out twice while nothing listens on it yet; the list is a
# file because free_port runs in $(...) subshells).  Servers that can bind
# port 0 and report it (origin.py) should do that.
free_port() {
	while :; do
		_fp=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
		if ! grep -qx "$_fp" "$TMP/.free_ports" 2>/dev/null; then
			echo "$_fp" >>"$TMP/.free_ports"
			echo "$_fp"
			return 0
		fi
	done
}

# wait_port [HOST:]PORT [SECONDS] [PID]: polls until a TCP connect succeeds
# (default host 127.0.0.1, 10 s).  Returns 1 on timeout, 2 when PID died.
wait_port() {
	python3 - "$1" "${2:-10}" "${3:-0}" <<'EOF'
import os, socket, sys, time
spec, secs, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
host, _, port = spec.rpartition(":")
host = host.strip("[]") or "127.0.0.1"
end = time.monotonic() + secs

def dead(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True

while True:
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        sys.exit(0)
    except OSError:
        pass
    if pid and dead(pid):
        sys.exit(2)
    if time.monotonic() > end:
        sys.exit(1)
    time.sleep(0.02)
EOF
}

# wait_file FILE [SECONDS] [PID]: polls until FILE exists and is not empty.
wait_file() {
	_n=$(( ${2:-10} * 50 ))
	while [ ! -s "$1" ]; do
		if [ -n "${3:-}" ] && ! is_alive "$3"; then
			return 2
		fi
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || return 1
		sleep 0.02
	done
}

# wait_log FILE REGEX [SECONDS]: polls until a line of FILE matches REGEX (ERE).
wait_log() {
	_n=$(( ${3:-10} * 50 ))
	until grep -q -E -- "$2" "$1" 2>/dev/null; do
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || return 1
		sleep 0.02
	done
}

# ---- fixtures ----------------------------------------------------------------

# make_certs: the test PKI in $PKI (once per test); see tests/tools/mkcerts.sh.
make_certs() {
	[ -f "$PKI/ca.pem" ] && return 0
	sh "$TOOLS/mkcerts.sh" "$PKI" || error "mkcerts.sh failed"
}

# start_origin NAME [origin.py options...]: starts tests/tools/origin.py as
# NAME on a free port and waits until it listens.  Sets ORIGIN_PORT (the
# last one started), ORIGIN_PORT_<NAME> and ORIGIN_PID_<NAME> (NAME upper-
# cased, '-' as '_').  Its requests are logged to $TMP/origin-NAME.requests
# ("METHOD TARGET" lines), its stderr to $TMP/origin-NAME.log.
start_origin() {
	_name=$1
	shift
	_rf=$TMP/origin-$_name.port
	rm -f "$_rf"
	python3 "$TOOLS/origin.py" --listen "${ORIGIN_LISTEN:-127.0.0.1:0}" \
	    --name "$_name" --ready-file "$_rf" \
	    --log-requests "$TMP/origin-$_name.requests" "$@" \
	    >"$TMP/origin-$_name.log" 2>&1 &
	_pid=$!
	track "$_pid"
	wait_file "$_rf" 10 "$_pid" || fail "origin $_name did not start"
	ORIGIN_PORT=$(cat "$_rf")
	_var=$(echo "$_name" | tr 'a-z-' 'A-Z_')
	eval "ORIGIN_PORT_$_var=\$ORIGIN_PORT ORIGIN_PID_$_var=\$_pid"
	say "origin $_name on port $ORIGIN_PORT"
}

# tls_origin NAME CERT KEY [CLIENT_CA]: origin.py's handlers behind TLS
# (tests/tools/tls_origin.py) with certificate CERT, asking for a client
# certificate from CLIENT_CA when given; waits until it listens.  Sets
# TLS_PORT; requests are logged to $TMP/origin-NAME.requests.
tls_origin() {
	rm -f "$TMP/$1.port"
	python3 "$TOOLS/tls_origin.py" "$1" "$2" "$3" "${4:--}" \
	    "$TMP/$1.port" "$TMP/origin-$1.requests" >"$TMP/origin-$1.log" 2>&1 &
	_pid=$!
	track $_pid
	wait_file "$TMP/$1.port" 10 $_pid || fail "TLS origin $1 did not start: $(cat "$TMP/origin-$1.log")"
	TLS_PORT=$(cat "$TMP/$1.port")
	say "TLS origin $1 on port $TLS_PORT"
}

# start_faulty: starts tests/tools/faulty.py (an upstream that fails on
# purpose, by path) on a free port and waits until it listens.  Sets
# FAULTY_PORT and FAULTY_PID; its request heads are logged to
# $TMP/faulty.requests ("N METHOD PATH" lines).
start_faulty() {
	rm -f "$TMP/faulty.port"
	python3 "$TOOLS/faulty.py" --ready-file "$TMP/faulty.port" --log "$TMP/faulty.requests" \
	    >"$TMP/faulty.log" 2>&1 &
	FAULTY_PID=$!
	track "$FAULTY_PID"
	wait_file "$TMP/faulty.port" 10 "$FAULTY_PID" || fail "faulty.py did not start"
	FAULTY_PORT=$(cat "$TMP/faulty.port")
}

# origin_requests NAME: prints the "METHOD TARGET" lines NAME received.
origin_requests() {
	cat "$TMP/origin-$1.requests"
}

# origin_request_count NAME: how many requests reached NAME.
origin_request_count() {
	wc -l <"$TMP/origin-$1.requests" | tr -d ' '
}

# write_conf NAME: writes stdin (a heredoc) to $TMP/NAME; sets CONF to it.
write_conf() {
	CONF=$TMP/$1
	cat >"$CONF"
}

# std_conf NAME: the usual test configuration: one "ue" listener on
# 127.0.0.1:$PROXY_PORT (picked when unset) with the test PKI, and the own
# servers kms (paths /keymanagement/) and gms for the origins started as
# "kms" and "gms" (any not started are left out).  Access log on stderr.
std_conf() {
	[ -n "$PROXY_PORT" ] || PROXY_PORT=$(free_port)
	make_certs
	_servers=""
	if [ -n "${ORIGIN_PORT_KMS:-}" ]; then
		_servers="{ name = \"kms\"; hosts = [\"kms.mcx.own.example\"]; paths = [\"/keymanagement/\"];
    targets = [\"127.0.0.1:$ORIGIN_PORT_KMS\"]; }"
	fi
	if [ -n "${ORIGIN_PORT_GMS:-}" ]; then
		[ -z "$_servers" ] || _servers="$_servers,
  "
		_servers="$_servers{ name = \"gms\"; hosts = [\"gms.mcx.own.example\"];
    targets = [\"127.0.0.1:$ORIGIN_PORT_GMS\"]; }"
	fi
	write_conf "$1" <<EOF
# $TEST_NAME: generated by std_conf
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  $_servers
);
idm_servers = ["idms.mcx.own.example"];
EOF
}

# notify_listen: a stand-in for systemd's notification socket (Type=notify
# units) at $TMP/notify.sock; every message is appended to $TMP/notify.log,
# one field per line, then "---".  Start the proxy with NOTIFY_SOCKET set to
# the socket to see what it tells systemd.
notify_listen() {
	python3 - "$TMP/notify.sock" "$TMP/notify.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(300)          # ends by itself if the test forgot it
with open(sys.argv[2], "a") as log:
    while True:
        try:
            d = s.recv(4096)
        except socket.timeout:
            break
        log.write(d.decode() + "\n---\n")
        log.flush()
EOF
	track $!
	_n=0
	until [ -S "$TMP/notify.sock" ]; do
		_n=$((_n + 1))
		[ "$_n" -lt 500 ] || fail "no notification socket"
		sleep 0.02
	done
}

# ---- the proxy ---------------------------------------------------------------

# check_conf CONF: mcxproxy -t must say "configuration OK" and exit 0.
check_conf() {
	_out=$("$MCXPROXY" -t -c "$1" 2>&1) || fail "mcxproxy -t -c $1 failed: $_out"
	expect_match "$_out" 'configuration OK' "mcxproxy -t -c $1"
}

# start_proxy CONF [[HOST:]PORT...]: runs mcxproxy -c CONF in the background
# (output in $TMP/proxy.log) and waits until each PORT accepts (default
# $PROXY_PORT).  Sets PROXY_PID.
start_proxy() {
	[ -x "$MCXPROXY" ] || error "no mcxproxy binary at $MCXPROXY"
	_conf=$1
	shift
	if [ $# -eq 0 ]; then
		[ -n "$PROXY_PORT" ] || error "start_proxy: no port given and PROXY_PORT unset"
		set -- "$PROXY_PORT"
	fi
	"$MCXPROXY" -c "$_conf" >>"$TMP/proxy.log" 2>&1 &
	PROXY_PID=$!
	track "$PROXY_PID"
	for _port in "$@"; do
		_rc=0
		wait_port "$_port" 10 "$PROXY_PID" || _rc=$?
		case $_rc in
		0) ;;
		2) fail "mcxproxy exited before listening on $_port" ;;
		*) fail "mcxproxy does not listen on $_port after 10 s" ;;
		esac
	done
	say "mcxproxy pid $PROXY_PID listening on $*"
}

# stop_proxy [SECONDS]: SIGTERM, then waits (default 10 s) for the exit.
# Fails unless it exits 0 in time; sets PROXY_STATUS.
stop_proxy() {
	[ -n "$PROXY_PID" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null || true
	if ! wait_dead "$PROXY_PID" "${1:-10}"; then
		kill -KILL "$PROXY_PID" 2>/dev/null || true
		fail "mcxproxy still running ${1:-10} s after SIGTERM"
	fi
	PROXY_STATUS=0
	wait "$PROXY_PID" || PROXY_STATUS=$?
	PROXY_PID=""
	[ "$PROXY_STATUS" -eq 0 ] || fail "mcxproxy exited with status $PROXY_STATUS after SIGTERM"
}

# signal_proxy SIG: sends SIG (HUP, USR1, ...) to the running proxy.
signal_proxy() {
	kill -"$1" "$PROXY_PID" || fail "cannot send SIG$1 to mcxproxy"
}

# ---- clients -------------------------------------------------------------------

# ue_url HOST PATH: the https URL of PATH on HOST through the ue listener.
ue_url() {
	echo "https://$1:$PROXY_PORT$2"
}

# curl_ue CURL-ARGS...: curl as a UE: trusts the test CA, resolves every host
# name to the proxy, bounded by CURL_MAX_TIME.  Add --cert "$PKI/client.pem"
# --key "$PKI/client.key" for mutual TLS.
curl_ue() {
	curl -sS --cacert "$PKI/ca.pem" --max-time "$CURL_MAX_TIME" \
	    --resolve "*:$PROXY_PORT:127.0.0.1" "$@"
}

# curl_code CURL-ARGS...: like curl_ue, prints only the status code
# (000 when no response); the body goes to $TMP/body.
curl_code() {
	curl_ue -o "$TMP/body" -w '%{http_code}' "$@" || true
}

# h1c [options]: a raw HTTP/1.1 client (tests/tools/h1c.py).  Sends stdin to
# the ue listener (H1C_PORT, default $PROXY_PORT) over TLS (--plain: TCP): all
# at once, or, when stdin has NUL bytes, part by part, each after the previous
# response.  It parses the responses to --methods M1,M2,... and prints
# "N:STATUS line", "N:H field", "N:B body line", "N:BYTES n" per response,
# "TRUNCATED" when the stream ended early, with --wait-eof "EXTRA n ..." for
# bytes after the last response, and always
# "EOF clean|ragged|reset|timeout|not-waited" (clean: TLS close_notify, or FIN
# with --plain; ragged: FIN without close_notify).  Bounded by --timeout
# (default 10 s).
h1c() {
	python3 "$TOOLS/h1c.py" "${H1C_PORT:-$PROXY_PORT}" --cafile "$PKI/ca.pem" "$@" 2>&1 || true
}

# s_client [openssl s_client options...]: a TLS handshake with the ue
# listener; prints s_client's output (stdin is empty, so it ends at once).
s_client() {
	openssl s_client -connect "127.0.0.1:$PROXY_PORT" -CAfile "$PKI/ca.pem" \
	    "$@" </dev/null 2>&1 || true
}

# metric NAME_AND_LABELS: its value in the admin listener's /metrics (on
# 127.0.0.1:$ADMIN); empty when absent.
metric() {
	curl -sS --max-time 10 "http://127.0.0.1:$ADMIN/metrics" |
	    awk -v k="$1" '$1 == k { print $2 }'
}

# ---- assertions ----------------------------------------------------------------

# expect_eq ACTUAL EXPECTED MSG
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# expect_ne ACTUAL UNEXPECTED MSG
expect_ne() {
	[ "$1" != "$2" ] || fail "$3: got '$1'"
}

# expect_match STRING REGEX MSG: some line of STRING matches REGEX (ERE).
expect_match() {
	printf '%s\n' "$1" | grep -q -E -- "$2" ||
	    fail "$3: no match for /$2/ in: $(printf '%s' "$1" | head -c 2000)"
}

# expect_no_match STRING REGEX MSG: no line of STRING matches REGEX (ERE).
expect_no_match() {
	if printf '%s\n' "$1" | grep -q -E -- "$2"; then
		fail "$3: unexpected match for /$2/ in: $(printf '%s' "$1" | head -c 2000)"
	fi
}

# expect_file_match FILE REGEX MSG: some line of FILE matches REGEX (ERE).
expect_file_match() {
	grep -q -E -- "$2" "$1" || fail "$3: no line of ${1#"$TMP"/} matches /$2/"
}
