#!/bin/sh
# A reload keeps warm upstream pools; the last healthy target is never
# ejected (passive health).  workers = 1: pools are per worker.
#   - SIGHUP with server "keep" (HTTP/1.1), "h2" (h2c) and "tlsk" (TLS)
#     unchanged and "other" changed (pool.max_idle): no new upstream
#     connection for the unchanged ones (origin connection counts, X-Conn-Id,
#     the h2 origin's connection ids), "other" gets a new one; the idle gauge
#     on /metrics loses only "other"'s connection; the log says how many
#     pools were kept
#   - a request in flight on "keep" across the reload completes, and its
#     connection stays in the kept pool (the next request reuses it)
#   - ejection carries over: of "ej" (targets A, B; health.fails = 1) A is
#     ejected before the reload, then comes up; right after the reload A
#     gets no request and its health gauge (the new generation's) is 0
#   - a renewed upstream CA file at the same path (same config text):
#     "tlsk" gets a new connection after SIGHUP
#   - "solo" (one target, health.fails = 2) fails 4 times in a row: 502
#     each time, never 503 "no healthy target"; logged once; once the
#     origin is up the next request reaches it (200)
#   - reloads under load (curl loops on kept and changed pools, 5 SIGHUPs
#     that alternately change and keep "keep"): every request 200, clean
#     exit (and no sanitizer report with an ASan build)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

H2PY=""
for _py in ${H2_PYTHON:-} /usr/bin/python3 python3; do
	if "$_py" -c 'import h2, hpack' >/dev/null 2>&1; then
		H2PY=$_py
		break
	fi
done
[ -n "$H2PY" ] || skip "no python3 with the h2 module (install python3-h2)"

# hdr FILE NAME: the value of header NAME in the curl -D dump FILE.
hdr() {
	sed -n "s/^$2: *//Ip" "$1" | tr -d '\r' | tail -n 1
}

# get NAME PATH: GET through the proxy to NAME.mcx.own.example; sets CODE
# and BODY, headers in $TMP/h.
get() {
	CODE=$(curl_ue -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' \
	    "$(ue_url "$1.mcx.own.example" "$2")" || true)
	BODY=$(cat "$TMP/b" 2>/dev/null || true)
}

# conns NAME PORT: sets CONNS to the connections origin NAME accepted from
# the proxy (each /stats fetch is one more, subtracted).
conns() {
	_k=$(eval "echo \${STATS_N_$1:-0}")
	_k=$((_k + 1))
	eval "STATS_N_$1=$_k"
	_j=$(curl -sS --max-time 10 "http://127.0.0.1:$2/stats") ||
	    fail "cannot read /stats of origin $1"
	_c=$(printf '%s' "$_j" | sed -n 's/.*"connections": *\([0-9]*\).*/\1/p')
	[ -n "$_c" ] || fail "origin $1 /stats: $_j"
	CONNS=$((_c - _k))
}

# wait_generation N: until every worker serves generation N (10 s).
wait_generation() {
	wait_log "$TMP/proxy.log" "every worker serves generation $1\$" 10 ||
	    fail "generation $1 not served after 10 s"
}

make_certs
start_origin keep
start_origin other
start_origin ejb
"$H2PY" "$TOOLS/h2_origin.py" --name h2 --ready-file "$TMP/h2.port" \
    --log "$TMP/h2origin.requests" --quiet >"$TMP/h2origin.log" 2>&1 &
track $!
wait_file "$TMP/h2.port" 10 $! || fail "h2 origin did not start"
H2_PORT=$(cat "$TMP/h2.port")
tls_origin tlsk "$PKI/origin.pem" "$PKI/origin.key"
TLSK_PORT=$TLS_PORT
cp "$PKI/ca.pem" "$TMP/upstream-ca.pem"

EJ_A=$(free_port)	# nobody listens there until after the ejection
SOLO=$(free_port)
while [ "$SOLO" = "$EJ_A" ]; do SOLO=$(free_port); done
PROXY_PORT=$(free_port)
ADMIN=$(free_port)

# conf KEEP_MAX_IDLE OTHER_MAX_IDLE: the configuration (always proxy.conf).
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
servers = (
  { name = "keep"; hosts = ["keep.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_KEEP"]; pool = { max_idle = $1; }; },
  { name = "other"; hosts = ["other.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_OTHER"]; pool = { max_idle = $2; }; },
  { name = "h2"; hosts = ["h2.mcx.own.example"]; protocol = "h2";
    targets = ["127.0.0.1:$H2_PORT"]; },
  { name = "tlsk"; hosts = ["tlsk.mcx.own.example"];
    targets = ["127.0.0.1:$TLSK_PORT"];
    tls = { enabled = true; ca = "$TMP/upstream-ca.pem";
            server_name = "origin.mcx.own.example"; }; },
  { name = "ej"; hosts = ["ej.mcx.own.example"];
    targets = ["127.0.0.1:$EJ_A", "127.0.0.1:$ORIGIN_PORT_EJB"];
    health = { fails = 1; interval = 60.0; }; },
  { name = "solo"; hosts = ["solo.mcx.own.example"];
    targets = ["127.0.0.1:$SOLO"]; health = { fails = 2; interval = 60.0; }; }
);
EOF
}

conf 32 4
check_conf "$CONF"
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"

# ---- before the reload -----------------------------------------------------------
get keep /conn
expect_eq "$BODY" "conn=1 reqs=1" "keep: first request"
get other /conn
expect_eq "$BODY" "conn=1 reqs=1" "other: first request"
get h2 /echo
expect_eq "$CODE" 200 "h2: first request"
H2_CONN=$(hdr "$TMP/h" x-conn-id)
[ -n "$H2_CONN" ] || fail "h2: no x-conn-id"
get tlsk /conn
expect_eq "$BODY" "conn=1 reqs=1" "tlsk: first request"
# A is refused: ejected (B is in rotation), and the request retried on B.
get ej /conn
expect_eq "$CODE" 200 "ej: first request (A refused, retried on B)"
wait_log "$TMP/proxy.log" "upstream ej: target 127.0.0.1:$EJ_A ejected" 5 ||
    fail "ej: A was not ejected"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"ej\",target=\"127.0.0.1:$EJ_A\"}")" 0 \
    "ej: A's gauge before the reload"
ORIGIN_LISTEN=127.0.0.1:$EJ_A start_origin eja
idle0=$(metric 'mcxproxy_upstream_connections{state="idle"}')
expect_eq "$idle0" 5 "idle upstream connections before the reload (keep, other, h2, tlsk, ej)"

# A request in flight on keep's pooled connection across the reload.
curl_ue -o "$TMP/slow.b" -w '%{http_code}' "$(ue_url keep.mcx.own.example '/slow?ms=1500')" \
    >"$TMP/slow.code" 2>"$TMP/slow.err" &
slow=$!
track "$slow"
wait_log "$TMP/origin-keep.requests" '^GET /slow' 10 || fail "the slow request did not reach keep"

# ---- SIGHUP: other changed, the rest unchanged ----------------------------------------
conf 32 5
signal_proxy HUP
wait_generation 2
wait_log "$TMP/proxy.log" 'worker 0: generation 2 keeps 5 of 6 upstream pools warm' 5 ||
    fail "no log line for the pools kept: $(grep 'pools warm' "$TMP/proxy.log")"
wait_dead "$slow" 10 || fail "the slow request did not end"
expect_eq "$(cat "$TMP/slow.code")" 200 "the request in flight across the reload"
expect_eq "$(metric 'mcxproxy_upstream_connections{state="idle"}')" 4 \
    "idle upstream connections after the reload (other's closed, keep's back idle)"

get keep /conn
expect_eq "$BODY" "conn=1 reqs=3" "keep: after the reload, on the connection made before it"
conns keep "$ORIGIN_PORT_KEEP"
expect_eq "$CONNS" 1 "keep: upstream connections across the reload"
get h2 /echo
expect_eq "$CODE" 200 "h2: after the reload"
expect_eq "$(hdr "$TMP/h" x-conn-id)" "$H2_CONN" "h2: after the reload, on the connection made before it"
expect_eq "$(grep -c -E '^[0-9]+ [0-9]+ ' "$TMP/h2origin.requests" | tr -d ' ')" 2 "h2: requests seen"
expect_eq "$(grep -E '^[0-9]+ [0-9]+ ' "$TMP/h2origin.requests" | cut -d' ' -f1 | sort -u | wc -l | tr -d ' ')" 1 \
    "h2: connections that carried them"
get tlsk /conn
expect_eq "$BODY" "conn=1 reqs=2" "tlsk: after the reload, on the connection made before it"
get other /conn
expect_eq "$BODY" "conn=2 reqs=1" "other (pool.max_idle changed): a new connection"
conns other "$ORIGIN_PORT_OTHER"
expect_eq "$CONNS" 2 "other: upstream connections"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"ej\",target=\"127.0.0.1:$EJ_A\"}")" 0 \
    "ej: A still ejected in the new generation's gauge"
for i in 1 2 3 4; do
	get ej /conn
	expect_eq "$CODE" 200 "ej: request $i after the reload"
done
expect_eq "$(origin_request_count eja)" 0 "ej: requests to A (ejected before the reload)"
expect_eq "$(origin_request_count ejb)" 5 "ej: requests to B"
say "SIGHUP: keep, h2, tlsk reused their connections; other reconnected; A stays ejected"

# ---- a renewed CA file at the same path --------------------------------------------
# Same certificate, different bytes (text outside the PEM block is ignored).
printf '# renewed\n' >>"$TMP/upstream-ca.pem"
signal_proxy HUP
wait_generation 3
wait_log "$TMP/proxy.log" 'worker 0: generation 3 keeps 5 of 6 upstream pools warm' 5 ||
    fail "generation 3: $(grep 'pools warm' "$TMP/proxy.log")"
get tlsk /conn
expect_eq "$BODY" "conn=2 reqs=1" "tlsk: a renewed CA file means a new connection"
get keep /conn
expect_eq "$BODY" "conn=1 reqs=4" "keep: still its first connection"
say "renewed CA file: new TLS connection; the others kept"

# ---- the only target is never ejected --------------------------------------------------
for i in 1 2 3 4; do
	get solo /conn
	expect_eq "$CODE" 502 "solo: request $i to a dead only target (never 503)"
done
expect_eq "$(grep -c "upstream solo: target 127.0.0.1:$SOLO failed 2 times in a row; not ejected" \
    "$TMP/proxy.log")" 1 "solo: logged once"
expect_eq "$(grep -c "upstream solo: target .* ejected for" "$TMP/proxy.log")" 0 "solo: never ejected"
expect_eq "$(metric "mcxproxy_upstream_target_healthy{route=\"solo\",target=\"127.0.0.1:$SOLO\"}")" 1 \
    "solo: gauge"
ORIGIN_LISTEN=127.0.0.1:$SOLO start_origin solo
get solo /conn
expect_eq "$CODE" 200 "solo: the first request once the origin is up"
expect_eq "$(origin_request_count solo)" 1 "solo: requests that reached it"
say "only target: 4 failures, 502 each, then 200 at once"

# ---- reloads under load -------------------------------------------------------------
# load NAME PATH: requests until $TMP/load.stop exists (at most 400).
load() {
	_i=0
	while [ ! -f "$TMP/load.stop" ] && [ "$_i" -lt 400 ]; do
		curl_ue -o /dev/null -w '%{http_code}\n' \
		    "$(ue_url "$1.mcx.own.example" "$2")" >>"$TMP/load-$1.codes" 2>&1 || true
		_i=$((_i + 1))
	done
}
for n in keep other h2 tlsk; do
	p=/conn
	[ "$n" != h2 ] || p=/echo
	[ "$n" != keep ] || p='/slow?ms=100'
	load "$n" "$p" &
	track $!
	eval "LOAD_$n=\$!"
done
for n in keep other h2 tlsk; do
	wait_file "$TMP/load-$n.codes" 10 || fail "load on $n did not start"
done
gen=4
for k in 31 32 31 32 31; do
	conf "$k" 5
	signal_proxy HUP
	wait_generation $gen
	gen=$((gen + 1))
	# A few requests of each loop on the new generation.
	lines0=$(cat "$TMP"/load-*.codes | wc -l)
	_n=0
	while [ "$(cat "$TMP"/load-*.codes | wc -l)" -lt $((lines0 + 8)) ]; do
		_n=$((_n + 1))
		[ "$_n" -lt 500 ] || fail "load: no progress after generation $((gen - 1))"
		sleep 0.02
	done
done
touch "$TMP/load.stop"
for n in keep other h2 tlsk; do
	eval "wait_dead \$LOAD_$n 30" || fail "load on $n did not end"
	total=$(wc -l <"$TMP/load-$n.codes" | tr -d ' ')
	bad=$(grep -v -c '^200$' "$TMP/load-$n.codes" || true)
	[ "$total" -gt 0 ] || fail "load on $n: no request"
	expect_eq "$bad" 0 "load on $n: requests not 200 of $total: $(sort "$TMP/load-$n.codes" | uniq -c | tr '\n' ' ')"
done
grep 'pools warm' "$TMP/proxy.log" | tail -n 5 | while read -r l; do say "$l"; done
stop_proxy
say "reloads under load: every request 200; clean exit"
