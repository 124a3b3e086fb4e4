#!/bin/sh
# The fleet: a real HAProxy (mode tcp, roundrobin, send-proxy-v2, HTTP
# checks of each instance's /healthz on its admin port) in front of three
# mcxproxy instances of one domain, each in its own network namespace, with
# the clients and the origin in theirs, all on one bridge:
#
#	client 10.88.0.10 -> HAProxy 10.88.0.2 :443 (fleet), :8442 (i2 only),
#	                                       :8449 (control instance x)
#	  -> i1 10.88.0.11, i2 .12, i3 .13, x .19 (:443 ue + PROXY v2, :9090 admin)
#	  -> origin 10.88.0.20:8080
#
# It shows that
# 1. each instance's access log names the client (its address and source
#    port), never the balancer, and that requests spread over the instances;
# 2. a TLS 1.2 and a TLS 1.3 session issued by one instance resumes on
#    another (same ticket_key_file), and not on an instance with another key
#    file (the control, which resumes its own sessions);
# 3. an instance drained with SIGTERM under a client loop answers /healthz
#    503 at once, keeps accepting for timeouts.drain_grace (HAProxy marks it
#    down meanwhile), then stops accepting, finishes its requests in flight
#    and exits 0; started again, HAProxy marks it up and it serves again; the
#    loop (fresh TLS connection per request) sees no failed request;
# 4. HAProxy's checks (HTTP on the admin port, and PROXY v2 LOCAL + TLS on
#    the proxy port of a check-only backend) leave no error or per-connection
#    line in the instances' logs.
# Needs root (namespaces), ip netns and haproxy: skipped (77) without them,
# failed when CI=true.  The namespaces are removed on every exit.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# need MSG: a missing tool skips the test, except in CI, where it fails.
need() {
	[ "${CI:-}" != true ] || fail "$1 (CI must run this test)"
	skip "$1"
}
[ "$(id -u)" -eq 0 ] || need "not root: network namespaces need root"
if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
	need "ip netns is not available (Debian package iproute2)"
fi
command -v haproxy >/dev/null 2>&1 || need "haproxy is not installed (scripts/deps.sh test set)"
command -v timeout >/dev/null 2>&1 || need "timeout(1) is not installed"

# ---- namespaces ----------------------------------------------------------------

NSP=mcxfl$$
SW=${NSP}sw
NSS=""
LB=10.88.0.2
CLIENT=10.88.0.10
ORIGIN=10.88.0.20
HOST=kms.mcx.own.example
ADDR_i1=10.88.0.11 ADDR_i2=10.88.0.12 ADDR_i3=10.88.0.13 ADDR_x=10.88.0.19

# The processes live in the namespaces: stop them (lib.sh's list) before the
# namespaces go, then let lib.sh judge and clean up as usual.
fleet_cleanup() {
	_frc=$?
	set +e
	for _p in $PIDS; do
		stop_pid "$_p"
	done
	# Anything left in the test's namespaces (a curl of a failed check)
	# is the test's too: a namespace is only gone once its last process is.
	for _ns in $NSS; do
		for _p in $(ip netns pids "$_ns" 2>/dev/null); do
			kill -KILL "$_p" 2>/dev/null
		done
		ip netns del "$_ns" 2>/dev/null
	done
	(exit "$_frc")
	cleanup
}
trap fleet_cleanup EXIT

# nsx NAME CMD...: runs CMD in the namespace NAME.  Not for "&": that
# would fork a subshell, and $! would be its pid, not CMD's; background
# commands call "ip netns exec" themselves (it execs CMD: $! is CMD's pid).
nsx() {
	_ns=$NSP$1
	shift
	ip netns exec "$_ns" "$@"
}

# node NAME ADDRESS: a namespace with lo, and eth0 (ADDRESS/24) on the bridge.
node() {
	ip netns add "$NSP$1" || need "cannot create a network namespace"
	NSS="$NSS $NSP$1"
	ip -n "$NSP$1" link set lo up
	ip -n "$SW" link add "v-$1" type veth peer name eth0 netns "$NSP$1" ||
	    error "cannot create a veth pair in the test's namespaces"
	ip -n "$SW" link set "v-$1" master br0 up
	ip -n "$NSP$1" addr add "$2/24" dev eth0
	ip -n "$NSP$1" link set eth0 up
}

ip netns add "$SW" || need "cannot create a network namespace"
NSS=$SW
ip -n "$SW" link add br0 type bridge || error "cannot create a bridge in $SW"
ip -n "$SW" link set br0 up
node c $CLIENT
node lb $LB
node i1 $ADDR_i1
node i2 $ADDR_i2
node i3 $ADDR_i3
node x $ADDR_x
node o $ORIGIN
say "namespaces:$NSS"

# ---- the origin, the instances, HAProxy ----------------------------------------

make_certs
ip netns exec "${NSP}o" python3 "$TOOLS/origin.py" --listen "$ORIGIN:8080" --name kms --quiet \
    --ready-file "$TMP/origin.port" --log-requests "$TMP/origin.requests" \
    >"$TMP/origin.log" 2>&1 &
track $!
wait_file "$TMP/origin.port" 10 $! || fail "the origin did not start"

# One base64 line of 64 characters: a valid ticket_key_file in the
# single-secret format and in the one-key-per-line format.
openssl rand -base64 48 >"$TMP/fleet.key"
openssl rand -base64 48 >"$TMP/control.key"

# instance_conf NAME ADDRESS KEYFILE ACCESS: one instance's configuration,
# the same for all but the addresses, the log file and (control) the key.
instance_conf() {
	cat >"$TMP/$1.conf" <<EOF
# $TEST_NAME: instance $1
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "$TMP/$4-access.log"; access_format = "json"; };
timeouts = { drain = 10.0; drain_grace = 2.0; };
listeners = (
  { role = "ue"; address = "$2:443";
    proxy_protocol = true; allow = ["$LB/32"];
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key";
            ticket_key_file = "$3"; }; }
);
admin = { address = "$2:9090"; };
servers = (
  { name = "kms"; hosts = ["$HOST"]; targets = ["$ORIGIN:8080"]; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
	check_conf "$TMP/$1.conf"
}

# start_instance NAME CONF: mcxproxy -c CONF in the namespace NAME (stderr
# in $TMP/NAME.log); waits until it serves.  Sets INST_PID.
start_instance() {
	: >>"$TMP/$1.log"
	_lines=$(wc -l <"$TMP/$1.log")
	ip netns exec "$NSP$1" "$MCXPROXY" -c "$2" >>"$TMP/$1.log" 2>&1 &
	_pid=$!
	track $_pid
	INST_PID=$_pid
	_n=500
	until tail -n "+$((_lines + 1))" "$TMP/$1.log" | grep -q 'serving domain'; do
		is_alive $_pid || fail "instance $1 exited: $(tail -n 5 "$TMP/$1.log")"
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || fail "instance $1 does not serve after 10 s"
		sleep 0.02
	done
}

instance_conf i1 $ADDR_i1 "$TMP/fleet.key" i1
instance_conf i2 $ADDR_i2 "$TMP/fleet.key" i2
instance_conf i3 $ADDR_i3 "$TMP/fleet.key" i3
instance_conf x $ADDR_x "$TMP/control.key" x
instance_conf i2b $ADDR_i2 "$TMP/fleet.key" i2b	# i2's second run
start_instance i1 "$TMP/i1.conf"
start_instance i2 "$TMP/i2.conf"
PID_i2=$INST_PID
start_instance i3 "$TMP/i3.conf"
start_instance x "$TMP/x.conf"

# Checks every 200 ms, down after 2 failures, up after 2 successes.  The
# fleet's checks go to the admin port, which does not speak PROXY: with
# "port", HAProxy sends no PROXY header on checks (no check-send-proxy).
# pp_check carries no traffic: its checks are what a balancer checking the
# proxy port itself sends, a PROXY v2 LOCAL header and a TLS handshake.
# pin (to i2 alone, no check, no retry: a refused connection fails at once)
# shows when i2 accepts during its drain; control reaches the instance with
# the other ticket key file.
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    stats socket $TMP/haproxy.sock mode 600 level admin
    log stdout format raw local0
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout check 1s
    timeout client 20s
    timeout server 20s
    retries 2
    option redispatch 1
frontend fleet
    bind $LB:443
    default_backend fleet
frontend pin
    bind $LB:8442
    default_backend pin
frontend control
    bind $LB:8449
    default_backend control
backend fleet
    balance roundrobin
    option httpchk GET /healthz
    default-server send-proxy-v2 check port 9090 inter 200ms fall 2 rise 2
    server i1 $ADDR_i1:443
    server i2 $ADDR_i2:443
    server i3 $ADDR_i3:443
backend pin
    retries 0
    server i2 $ADDR_i2:443 send-proxy-v2
backend control
    server x $ADDR_x:443 send-proxy-v2
backend pp_check
    default-server send-proxy-v2 check check-send-proxy check-ssl verify none inter 200ms fall 2 rise 2
    server i1 $ADDR_i1:443
    server i3 $ADDR_i3:443
EOF
haproxy -c -f "$TMP/haproxy.cfg" >"$TMP/haproxy-check.log" 2>&1 ||
    fail "haproxy -c: $(cat "$TMP/haproxy-check.log")"
ip netns exec "${NSP}lb" haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
HA_PID=$!
track $HA_PID

# hastate BACKEND SERVER STATUS [SECONDS]: waits until HAProxy says STATUS.
hastate() {
	python3 "$TOOLS/fleet.py" wait-state "$TMP/haproxy.sock" "$1" "$2" "$3" "${4:-10}"
}
for i in i1 i2 i3; do
	_st=$(hastate fleet $i UP) || fail "HAProxy does not see $i up: $_st"
done
say "HAProxy sees i1 i2 i3 up"

# ---- helpers ----------------------------------------------------------------------

# get PORT PATH [CURL-ARGS...]: a GET from the client namespace through
# HAProxy's PORT; prints "STATUS LOCAL-PORT" (000 when it failed).
get() {
	_port=$1 _path=$2
	shift 2
	nsx c curl -sS --cacert "$PKI/ca.pem" --max-time 10 -o /dev/null \
	    -w '%{http_code} %{local_port}' --resolve "$HOST:$_port:$LB" "$@" \
	    "https://$HOST:$_port$_path" 2>>"$TMP/curl.log" || true
}

# who PATH: the instance (i1, i2, i2b, i3, x) whose access log has a request
# for PATH; waits up to 5 s for the line (it is written once the request is
# complete).  Prints "none" when there is none.
who() {
	_n=250
	while :; do
		for _i in i1 i2 i3 x i2b; do
			if grep -q -F "\"path\":\"$1\"," "$TMP/$_i-access.log" 2>/dev/null; then
				echo "$_i"
				return 0
			fi
		done
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || break
		sleep 0.02
	done
	echo none
}

# count REGEX FILE: how many lines of FILE match (0 when there is no FILE).
count() {
	_c=$(grep -c -E -- "$1" "$2" 2>/dev/null || true)
	echo "${_c:-0}"
}

# access_line PATH: that request's line in the access logs.
access_line() {
	cat "$TMP"/*-access.log | grep -F "\"path\":\"$1\"," || true
}

# ---- 1. client addresses and spread -------------------------------------------------

say "1. client addresses in the access logs, requests spread"
spread=""
n=1
while [ $n -le 9 ]; do
	r=$(get 443 "/spread/$n")
	expect_match "$r" '^200 [0-9]+$' "GET /spread/$n through HAProxy"
	srv=$(who "/spread/$n")
	line=$(access_line "/spread/$n")
	expect_match "$line" "\"client\":\"$CLIENT:${r#200 }\"" \
	    "the access line of /spread/$n names the client's address and source port"
	spread="$spread $srv"
	n=$((n + 1))
done
for i in i1 i2 i3; do
	c=$(echo "$spread" | tr ' ' '\n' | grep -c -x $i || true)
	[ "$c" -ge 1 ] || fail "roundrobin: $i served none of 9 requests (served by:$spread)"
done
say "9 requests served by:$spread"

# ---- 2. TLS resumption across instances ----------------------------------------------

# sconn PORT PATH S_CLIENT-ARGS...: one TLS connection from the client
# namespace through HAProxy's PORT with one GET of PATH; prints "New" or
# "Reused" (or "none").  s_client's output is kept in $TMP/s_client.log.
sconn() {
	_port=$1 _path=$2
	shift 2
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$_path" "$HOST" |
	    nsx c timeout 10 openssl s_client -connect "$LB:$_port" -servername "$HOST" \
	    -CAfile "$PKI/ca.pem" -verify_return_error -ign_eof "$@" >"$TMP/sc.out" 2>&1 || true
	{ echo "---- $_port $_path $*"; cat "$TMP/sc.out"; } >>"$TMP/s_client.log"
	grep -q '^HTTP/1.1 200 ' "$TMP/sc.out" || { echo none; return 0; }
	sed -n -E 's/^(New|Reused), TLSv1\.[23],.*/\1/p' "$TMP/sc.out" | head -n 1
}

say "2. TLS sessions resume across instances, not on another key file"
for v in 1_2 1_3; do	# s_client's -tls1_2, -tls1_3
	s=$TMP/sess-$v
	st=$(sconn 443 "/resume/$v/issue" "-tls$v" -sess_out "$s")
	expect_eq "$st" New "TLS $v: first connection"
	issuer=$(who "/resume/$v/issue")
	k=1 other=""
	while [ $k -le 4 ]; do
		st=$(sconn 443 "/resume/$v/$k" "-tls$v" -sess_in "$s")
		srv=$(who "/resume/$v/$k")
		if [ "$srv" != "$issuer" ]; then
			other=$srv
			break
		fi
		k=$((k + 1))
	done
	[ -n "$other" ] || fail "TLS $v: 4 connections all went to $issuer"
	expect_eq "$st" Reused "TLS $v: a session of $issuer presented to $other"
	say "TLS $v: session issued by $issuer resumed by $other"
	# The control: another ticket_key_file.  It does resume its own
	# sessions, so a fleet session it does not resume is the key's doing.
	st=$(sconn 8449 "/resume/$v/control" "-tls$v" -sess_in "$s")
	expect_eq "$(who "/resume/$v/control")" x "TLS $v: the control instance served"
	expect_eq "$st" New "TLS $v: a session of $issuer presented to the instance with another key file"
	st=$(sconn 8449 "/resume/$v/control-issue" "-tls$v" -sess_out "$s.x")
	expect_eq "$st" New "TLS $v: control, first connection"
	st=$(sconn 8449 "/resume/$v/control-again" "-tls$v" -sess_in "$s.x")
	expect_eq "$st" Reused "TLS $v: the control instance resumes its own session"
	say "TLS $v: not resumed by the instance with another ticket_key_file (which resumes its own)"
done

# ---- 3. drain i2 under load, start it again ----------------------------------------

say "3. i2 drained with SIGTERM under a client loop, then started again"
echo before >"$TMP/phase"
ip netns exec "${NSP}c" python3 "$TOOLS/fleet.py" load $LB 443 --cafile "$PKI/ca.pem" --threads 4 \
    --seconds 60 --phase-file "$TMP/phase" --stop-file "$TMP/stop" --out "$TMP/load.out" \
    >"$TMP/load.log" 2>&1 &
LOAD_PID=$!
track $LOAD_PID

# wait_requests PHASE N: until the loop has made N requests in PHASE (15 s).
wait_requests() {
	_n=750
	until [ "$(count "^$1 " "$TMP/load.out")" -ge "$2" ]; do
		is_alive $LOAD_PID || fail "the client loop ended early: $(cat "$TMP/load.log")"
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || fail "the client loop made fewer than $2 requests in phase $1 in 15 s"
		sleep 0.02
	done
}
wait_requests before 30

# A request in flight on i2 when it is told to stop (pin: HAProxy -> i2).
ip netns exec "${NSP}c" curl -sS --cacert "$PKI/ca.pem" --max-time 15 -o /dev/null -w '%{http_code}' \
    --resolve "$HOST:8442:$LB" "https://$HOST:8442/slow?ms=5000&id=inflight" \
    >"$TMP/inflight.code" 2>>"$TMP/curl.log" &
INFLIGHT_PID=$!
track $INFLIGHT_PID
wait_log "$TMP/origin.requests" 'id=inflight' 10 || fail "the in-flight request did not reach the origin"

echo draining >"$TMP/phase"
kill -TERM "$PID_i2"
# The signal is handled by i2's loop a moment later: poll (1 s).
k=0
while :; do
	code=$(nsx lb curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
	    http://$ADDR_i2:9090/healthz 2>>"$TMP/curl.log" || true)
	[ "$code" != 200 ] || [ $k -ge 50 ] || { k=$((k + 1)); sleep 0.02; continue; }
	break
done
expect_eq "$code" 503 "i2's /healthz after SIGTERM"
# timeouts.drain_grace: i2 still accepts (HAProxy has not seen the 503 yet,
# nor has the pin backend any check).
r=$(get 8442 /drain/grace)
expect_match "$r" '^200 ' "a new connection to i2 during drain_grace"
expect_eq "$(who /drain/grace)" i2 "served during drain_grace by"
st=$(hastate fleet i2 DOWN 5) || fail "HAProxy does not mark i2 down after its 503: $st"
is_alive "$PID_i2" || fail "i2 exited before HAProxy marked it down"
expect_file_match "$TMP/haproxy.log" 'fleet/i2 is DOWN.*(503|Layer7 wrong status)' \
    "HAProxy: i2 down because of its /healthz 503"
say "i2: /healthz 503, new connections served during drain_grace, HAProxy marked it down"
# Then it stops accepting, while the in-flight request still runs.
# At least 20 ms a probe: 300 of them outlast the 2 s grace.
k=0 refused=""
while is_alive "$PID_i2" && [ $k -lt 300 ]; do
	r=$(get 8442 "/drain/late-$k" --max-time 2)
	case $r in
	200*) ;;
	*) refused=$k; break ;;
	esac
	k=$((k + 1))
	sleep 0.02
done
[ -n "$refused" ] || fail "i2 kept accepting until it exited (or for 300 connections, > 6 s)"
is_alive "$PID_i2" || fail "i2 exited before its in-flight request could finish"
say "i2 stopped accepting after $k more connections during drain_grace"
wait_dead $INFLIGHT_PID 15 || fail "the in-flight request did not end"
expect_eq "$(cat "$TMP/inflight.code")" 200 "the request in flight on i2 at SIGTERM"
# The access log has the path without the query: the in-flight request is
# i2's only one of 5 s.
expect_file_match "$TMP/i2-access.log" \
    '"path":"/slow",.*"status":200,.*"duration_ms":(49[0-9][0-9]|[5-9][0-9]{3})\.' \
    "i2's access line of the request in flight at SIGTERM"
wait_dead "$PID_i2" 12 || fail "i2 still running 12 s after SIGTERM"
rc=0
wait "$PID_i2" || rc=$?
expect_eq "$rc" 0 "i2's exit status after SIGTERM"
say "i2: the in-flight request finished (200), exit 0"

echo down >"$TMP/phase"
wait_requests down 20
echo rejoin >"$TMP/phase"
start_instance i2 "$TMP/i2b.conf"
st=$(hastate fleet i2 UP 10) || fail "HAProxy does not mark i2 up again: $st"
echo after >"$TMP/phase"
n=500
until [ "$(count '"path":"/slow",' "$TMP/i2b-access.log")" -ge 5 ]; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "i2 serves no client requests 10 s after HAProxy marked it up"
	sleep 0.02
done
wait_requests after 20
: >"$TMP/stop"
wait_dead $LOAD_PID 15 || fail "the client loop does not stop"
say "i2 up again and serving ($(grep -c '"path":"/slow",' "$TMP/i2b-access.log") requests so far)"
rc=0
python3 "$TOOLS/fleet.py" summary "$TMP/load.out" before draining down rejoin after \
    >"$TMP/summary.out" || rc=$?
while read -r line; do say "client loop: $line"; done <"$TMP/summary.out"
[ "$rc" -eq 0 ] || fail "the client loop saw failed requests"

# ---- 4. what the logs say -------------------------------------------------------------

say "4. no balancer address, no check noise in the logs"
bad=$(grep -h -F "\"client\":\"$LB:" "$TMP"/*-access.log | head -n 3 || true)
[ -z "$bad" ] || fail "access lines name the balancer, not the client: $bad"
bad=$(grep -h -v -F "\"client\":\"$CLIENT:" "$TMP"/*-access.log | head -n 3 || true)
[ -z "$bad" ] || fail "access lines not from the client: $bad"
for i in i1 i2 i3 x; do
	bad=$(grep -v -E '^mcxproxy: info: ' "$TMP/$i.log" | head -n 5 || true)
	[ -z "$bad" ] || fail "instance $i logged: $bad"
	bad=$(grep -E 'session |listener .*(connection|closed)' "$TMP/$i.log" | head -n 5 || true)
	[ -z "$bad" ] || fail "instance $i logged: $bad"
done
# msum PREFIX FILE: the sum of the samples of FILE whose name starts with PREFIX.
msum() {
	awk -v p="$1" 'index($1, p) == 1 { s += $2 } END { printf "%d\n", s }' "$2"
}
for i in i1 i3; do
	st=$(hastate pp_check $i UP 1) || fail "PROXY v2 LOCAL + TLS check on $i's proxy port: $st"
	expect_no_match "$(cat "$TMP/haproxy.log")" "fleet/$i is DOWN" "HAProxy: $i never down"
	m=$TMP/metrics-$i.txt
	case $i in i1) a=$ADDR_i1 ;; *) a=$ADDR_i3 ;; esac
	nsx lb curl -sS --max-time 10 -o "$m" "http://$a:9090/metrics" ||
	    fail "no /metrics from $i"
	nlocal=$(msum 'mcxproxy_proxy_protocol_headers_total{version="2",command="local"}' "$m")
	[ "$nlocal" -gt 0 ] || fail "$i: no PROXY v2 LOCAL header counted (pp_check's checks)"
	[ "$(msum 'mcxproxy_proxy_protocol_headers_total{version="2",command="proxy"}' "$m")" -gt 0 ] ||
	    fail "$i: no PROXY v2 header with an address counted"
	for k in mcxproxy_proxy_protocol_errors_total mcxproxy_client_connections_refused_total \
	    mcxproxy_tls_handshake_failures_total; do
		expect_eq "$(msum "$k" "$m")" 0 "$i: $k"
	done
	say "$i: $nlocal PROXY v2 LOCAL checks accepted; no PROXY error, refusal or failed handshake"
done
say "checks: $(cat "$TMP/i1.log" "$TMP/i3.log" | wc -l) lines in i1's and i3's logs, none about a connection"
