#!/bin/sh
# Active health checks (servers[].health.path).  workers = 1, interval 0.3 s,
# fails = 2; the origins are tests/tools/health_origin.py, whose /health
# answers what a file says.
#   - with no client request, every checked target gets GET /health with
#     the server's first non-wildcard host as Host, the check's User-Agent,
#     and a new connection each time; a server without health.path ("plain")
#     gets no request at all
#   - "duo" (targets A, B): A's /health answers 500 -> A is logged down and
#     its health gauge is 0 without any client request; then every request
#     goes to B; A's /health answers 200 again -> A is logged back, its
#     gauge is 1 and requests reach it again
#   - "solo" (one target): its checks fail -> 503 "no healthy upstream
#     target" with Retry-After (active checks may take out the last
#     target); back after a passing check -> 200
#   - "sec": a TLS upstream (server_name, the test CA): checks pass over TLS,
#     and a 503 from its /health takes it down
#   - protocol "h2" (tests/tools/h2_origin.py; skipped without python3-h2):
#     a GET on a new h2c connection each time passes ("h2ok", /echo), a
#     check never answered fails ("h2hang", /hang: down), and over TLS with
#     ALPN h2 an interim 103 then 200 passes ("h2tls", /interim)
#   - mcxproxy_upstream_health_checks_total counts ok and fail by route
#   - "slow" answers its checks after 5 s (> interval): they fail in flight;
#     a SIGHUP that changes "duo" (a new pool; the old one's checks stop)
#     and keeps the rest, then SIGTERM, with checks in flight: the new pool
#     checks on, the proxy exits 0 at once (and no sanitizer report)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# horigin NAME [--tls CERT KEY]: starts health_origin.py NAME, its port
# in $TMP/NAME.port.  Requests go to $TMP/NAME.requests, its /health status is
# in $TMP/NAME.status.
horigin() {
	_ho=$1
	shift
	python3 "$TOOLS/health_origin.py" --name "$_ho" \
	    --ready-file "$TMP/$_ho.port" --log "$TMP/$_ho.requests" \
	    --status-file "$TMP/$_ho.status" "$@" >"$TMP/origin-$_ho.log" 2>&1 &
	track $!
	wait_file "$TMP/$_ho.port" 10 $! || fail "origin $_ho did not start"
}

# status NAME CODE [DELAY]: what NAME's /health answers from now on.
status() {
	echo "$2 ${3:-0}" >"$TMP/$1.status.tmp"
	mv "$TMP/$1.status.tmp" "$TMP/$1.status"
}

# count FILE REGEX: lines of FILE matching REGEX.
count() {
	grep -c -E -- "$2" "$1" 2>/dev/null || true
}

# wait_count FILE REGEX N [SECONDS]: until FILE has N lines matching REGEX.
wait_count() {
	_w=$(( ${4:-10} * 10 ))
	while [ "$(count "$1" "$2")" -lt "$3" ]; do
		_w=$((_w - 1))
		[ "$_w" -gt 0 ] || return 1
		sleep 0.1
	done
}

# get NAME: GET /x through the proxy to NAME.mcx.own.example; sets CODE and
# BODY, headers in $TMP/h.
get() {
	CODE=$(curl_ue -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' \
	    "$(ue_url "$1.mcx.own.example" /x)" || true)
	BODY=$(cat "$TMP/b" 2>/dev/null || true)
}

H2PY=""
for _py in ${H2_PYTHON:-} /usr/bin/python3 python3; do
	if "$_py" -c 'import h2, hpack' >/dev/null 2>&1; then
		H2PY=$_py
		break
	fi
done

# h2origin NAME [--tls CERT KEY]: h2_origin.py NAME, its events in
# $TMP/NAME.requests, its port in $TMP/NAME.port.
h2origin() {
	_ho=$1
	shift
	"$H2PY" "$TOOLS/h2_origin.py" --name "$_ho" --ready-file "$TMP/$_ho.port" \
	    --log "$TMP/$_ho.requests" --quiet "$@" >"$TMP/origin-$_ho.log" 2>&1 &
	track $!
	wait_file "$TMP/$_ho.port" 10 $! || fail "h2 origin $_ho did not start"
}

make_certs
H2SERVERS=""
if [ -n "$H2PY" ]; then
	h2origin h2ok
	h2origin h2hang
	h2origin h2tls --tls "$PKI/origin.pem" "$PKI/origin.key"
	HPORT_h2ok=$(cat "$TMP/h2ok.port")
	HPORT_h2hang=$(cat "$TMP/h2hang.port")
	HPORT_h2tls=$(cat "$TMP/h2tls.port")
	H2SERVERS="
  { name = \"h2ok\"; hosts = [\"h2ok.mcx.own.example\"]; protocol = \"h2\";
    targets = [\"127.0.0.1:$HPORT_h2ok\"];
    health = { path = \"/echo\"; interval = 1.0; fails = 2; }; },
  { name = \"h2hang\"; hosts = [\"h2hang.mcx.own.example\"]; protocol = \"h2\";
    targets = [\"127.0.0.1:$HPORT_h2hang\"];
    health = { path = \"/hang\"; interval = 0.3; fails = 2; }; },
  { name = \"h2tls\"; hosts = [\"h2tls.mcx.own.example\"]; protocol = \"h2\";
    targets = [\"127.0.0.1:$HPORT_h2tls\"];
    tls = { enabled = true; ca = \"$PKI/ca.pem\"; server_name = \"origin.mcx.own.example\"; };
    health = { path = \"/interim\"; interval = 1.0; fails = 2; }; },"
else
	say "no python3 with the h2 module: HTTP/2 checks not tested"
fi
for o in a b c d s; do
	horigin $o
done
horigin sec --tls "$PKI/origin.pem" "$PKI/origin.key"
HPORT_a=$(cat "$TMP/a.port")
HPORT_b=$(cat "$TMP/b.port")
HPORT_c=$(cat "$TMP/c.port")
HPORT_d=$(cat "$TMP/d.port")
HPORT_s=$(cat "$TMP/s.port")
HPORT_sec=$(cat "$TMP/sec.port")
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
PA=127.0.0.1:$HPORT_a

# conf DUO_INTERVAL
conf() {
	write_conf proxy.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
admin = { address = "127.0.0.1:$ADMIN"; };
timeouts = { upstream_connect = 2.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = ($H2SERVERS
  { name = "duo"; hosts = ["*.duo.example", "duo.mcx.own.example"];
    targets = ["$PA", "127.0.0.1:$HPORT_b"];
    health = { path = "/health"; interval = $1; fails = 2; }; },
  { name = "solo"; hosts = ["solo.mcx.own.example"];
    targets = ["127.0.0.1:$HPORT_c"];
    health = { path = "/health"; interval = 0.3; fails = 2; }; },
  { name = "plain"; hosts = ["plain.mcx.own.example"];
    targets = ["127.0.0.1:$HPORT_d"];
    health = { interval = 0.3; fails = 2; }; },
  { name = "slow"; hosts = ["slow.mcx.own.example"];
    targets = ["127.0.0.1:$HPORT_s"];
    health = { path = "/health"; interval = 0.3; fails = 2; }; },
  { name = "sec"; hosts = ["sec.mcx.own.example"];
    targets = ["127.0.0.1:$HPORT_sec"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; server_name = "origin.mcx.own.example"; };
    health = { path = "/health"; interval = 0.3; fails = 2; }; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
}
conf 0.3
status s 200 5
check_conf "$CONF"
start_proxy "$CONF"
LOG=$TMP/proxy.log

say "checks without client requests"
CHECK='GET /health host=%s ua=mcxproxy-health-check$'
for o in a b; do
	# shellcheck disable=SC2059
	wait_count "$TMP/$o.requests" "$(printf "$CHECK" duo.mcx.own.example)" 3 ||
	    fail "origin $o: no 3 checks of duo within 10 s"
done
# shellcheck disable=SC2059
wait_count "$TMP/c.requests" "$(printf "$CHECK" solo.mcx.own.example)" 3 ||
    fail "origin c: no 3 checks of solo"
# shellcheck disable=SC2059
wait_count "$TMP/sec.requests" "$(printf "$CHECK" sec.mcx.own.example)" 3 ||
    fail "TLS origin: no 3 checks of sec"
expect_eq "$(count "$TMP/a.requests" .)" \
    "$(count "$TMP/a.requests" 'GET /health host=duo.mcx.own.example ua=mcxproxy-health-check$')" \
    "origin a: only checks, with the right Host and User-Agent"
ids=$(sed 's/ .*//' "$TMP/a.requests" | sort | uniq -d)
expect_eq "$ids" "" "origin a: each check on a new connection"
expect_eq "$(count "$TMP/d.requests" .)" 0 "no check without health.path"

if [ -n "$H2PY" ]; then
	say "HTTP/2 checks"
	wait_count "$TMP/h2ok.requests" '^[0-9]+ [0-9]+ GET /echo$' 2 ||
	    fail "h2ok: no 2 checks"
	ids=$(grep -E '^[0-9]+ [0-9]+ GET' "$TMP/h2ok.requests" | cut -d' ' -f1 | sort | uniq -d)
	expect_eq "$ids" "" "h2ok: each check on a new connection"
	wait_log "$LOG" "upstream h2hang: target 127.0.0.1:$HPORT_h2hang is down" 10 ||
	    fail "h2hang: unanswered checks did not take it down"
	wait_count "$TMP/h2tls.requests" '^[0-9]+ [0-9]+ GET /interim$' 2 ||
	    fail "h2tls: no 2 checks"
	n=0
	until [ "$(metric 'mcxproxy_upstream_health_checks_total{route="h2tls",result="ok"}')" -ge 1 ]; do
		n=$((n + 1))
		[ "$n" -lt 50 ] || fail "h2tls: no check passed (a 103 then 200 over TLS)"
		sleep 0.1
	done
	expect_eq "$(count "$LOG" 'upstream h2(ok|tls): target .* is down')" 0 \
	    "h2ok and h2tls stay up"
fi

say "A's /health answers 500: down without a request"
status a 500
wait_log "$LOG" "upstream duo: target $PA is down after 2 failures" 10 ||
    fail "A not logged down"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"duo\",target=\"$PA\"}")" 0 \
    "A's health gauge while down"
expect_eq "$(count "$TMP/a.requests" 'GET /x ')" 0 "no request reached A yet"
expect_eq "$(count "$TMP/d.requests" .)" 0 "still no check without health.path"
for i in 1 2 3 4 5 6; do
	get duo
	expect_eq "$CODE" 200 "duo request $i while A is down"
	expect_eq "$BODY" "origin b" "duo request $i while A is down: served by B"
done
expect_eq "$(count "$TMP/a.requests" 'GET /x ')" 0 "A got no request while down"
expect_eq "$(count "$LOG" "target $PA is down")" 1 "A's going down logged once"

say "A passes again: back"
status a 200
wait_log "$LOG" "upstream duo: target $PA is back in rotation" 10 ||
    fail "A not logged back"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"duo\",target=\"$PA\"}")" 1 \
    "A's health gauge once back"
for i in 1 2 3 4 5 6; do
	get duo
	expect_eq "$CODE" 200 "duo request $i once A is back"
done
[ "$(count "$TMP/a.requests" 'GET /x ')" -ge 2 ] ||
    fail "A got no requests once back: $(count "$TMP/a.requests" 'GET /x ')"

say "solo: the last target's checks fail: 503 with Retry-After"
status c 500
wait_log "$LOG" "upstream solo: target 127.0.0.1:$HPORT_c is down" 10 ||
    fail "solo's target not logged down"
get solo
expect_eq "$CODE" 503 "solo with its only target down"
expect_match "$BODY" "no healthy upstream target" "solo's 503 says why"
ra=$(sed -n 's/^Retry-After: *//Ip' "$TMP/h" | tr -d '\r')
expect_match "$ra" '^[0-9]+$' "solo's 503 carries Retry-After"
expect_eq "$(count "$TMP/c.requests" 'GET /x ')" 0 "solo's 503 sent nothing upstream"
status c 200
wait_log "$LOG" "upstream solo: target 127.0.0.1:$HPORT_c is back" 10 ||
    fail "solo's target not logged back"
get solo
expect_eq "$CODE" 200 "solo once its target is back"

say "TLS upstream"
status sec 503
wait_log "$LOG" "upstream sec: target 127.0.0.1:$HPORT_sec is down after 2 failures.*status 503" 10 ||
    fail "sec's target not down after 503s over TLS"
get sec
expect_eq "$CODE" 503 "sec with its target down"
status sec 200
wait_log "$LOG" "upstream sec: target 127.0.0.1:$HPORT_sec is back" 10 ||
    fail "sec's target not back"

say "metrics"
ok=$(metric 'mcxproxy_upstream_health_checks_total{route="duo",result="ok"}')
bad=$(metric 'mcxproxy_upstream_health_checks_total{route="duo",result="fail"}')
if [ "${ok:-0}" -lt 4 ] || [ "${bad:-0}" -lt 2 ]; then
	fail "health check counters of duo: ok=$ok fail=$bad"
fi
expect_eq "$(metric 'mcxproxy_upstream_health_checks_total{route="plain",result="ok"}')" "" \
    "no check counter for plain"
wait_log "$LOG" "upstream slow: target 127.0.0.1:$HPORT_s is down.*(no answer within health.interval|timed out awaiting the answer)" 10 ||
    fail "slow's unanswered checks did not take it down"

say "SIGHUP and SIGTERM with checks in flight"
before=$(count "$TMP/a.requests" 'GET /health')
conf 0.4
signal_proxy HUP
wait_log "$LOG" "every worker serves generation 2\$" 10 || fail "generation 2 not served"
[ -n "$H2PY" ] && warm='7 of 8' || warm='4 of 5'
expect_match "$(grep 'keeps [0-9]* of' "$LOG")" "keeps $warm upstream pools warm" \
    "the reload keeps every pool but duo's"
wait_count "$TMP/a.requests" 'GET /health' $((before + 3)) 10 ||
    fail "no checks of A after the reload"
get duo
expect_eq "$CODE" 200 "duo after the reload"
is_alive "$PROXY_PID" || fail "mcxproxy died"
# Checks of "slow" are in flight now (they take 5 s): the stop must not wait.
t0=$(date +%s)
stop_proxy 10
t1=$(date +%s)
[ $((t1 - t0)) -le 3 ] || fail "SIGTERM took $((t1 - t0)) s with checks in flight"
say "ok"
