#!/bin/sh
# Upstream connection pools (contract section 4, "servers" pool and health):
#   - keep-alive reuse: 10 client connections in a row share 1 upstream one
#   - pool.max_idle = 1: of 3 concurrent connections only 1 stays idle
#   - pool.max_connections = 1: a 2nd concurrent request gets 503 + Retry-After
#   - round robin over two targets (max_idle = 0 forces new connections)
#   - a pooled connection the origin closed is never used (GET -> 200)
#   - a reused connection the origin drops on the next request: a GET is
#     retried transparently on a fresh one (200), a POST is not (502)
#   - dead target -> 502; with another live target -> retried there (200)
#   - health { fails = 1; interval = 2.0 } with targets A (dead) and B: A is
#     ejected (the request is retried on B, 200), gets no request while
#     ejected although it is up again, and is used again once the interval
#     has passed; a dead only target is never ejected: 502 each time, not
#     503 (the last target in rotation stays in it)
#   - upstream_response = 1.0 with /slow?ms=3000 -> 504 in about 1 s
#   - upstream_connect = 1.0 toward a listener whose accept queue is full
#     (SYNs dropped) -> 504 in about 1 s
# workers = 1 everywhere: pools are per worker.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

now_ms() {
	date +%s%3N
}

# hdr FILE NAME: the value of header NAME in the curl -D dump FILE.
hdr() {
	sed -n "s/^$2: *//Ip" "$1" | tr -d '\r' | tail -n 1
}

# get HOST PATH [curl args]: GET through the proxy; sets CODE, BODY, and
# the headers are in $TMP/h.
get() {
	_h=$1
	_p=$2
	shift 2
	CODE=$(curl_ue -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" \
	    "$(ue_url "$_h.mcx.own.example" "$_p")" || true)
	BODY=$(cat "$TMP/b" 2>/dev/null || true)
}

# conns NAME PORT: sets CONNS to the connections origin NAME accepted from
# the proxy.  /stats is fetched directly; each such fetch is itself one
# connection, which is subtracted.
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

# established PORT: how many ESTABLISHED TCP connections have remote port
# PORT on 127.0.0.1 (the proxy's side of its upstream connections).
established() {
	python3 - "$1" <<'EOF'
import sys
port = int(sys.argv[1])
n = 0
with open("/proc/net/tcp") as f:
    next(f)
    for line in f:
        parts = line.split()
        rem, st = parts[2], parts[3]
        if st == "01" and int(rem.split(":")[1], 16) == port and \
                rem.split(":")[0] == "0100007F":
            n += 1
print(n)
EOF
}

make_certs

# ---- origins ----------------------------------------------------------------
start_origin reuse
start_origin idle
start_origin full
start_origin rr1
start_origin rr2
start_origin stale --idle-timeout 0.3
start_origin fo
start_origin ejb

# "keepdrop": answers the first request of a connection with keep-alive and
# closes the connection, without answering, when a second request arrives
# on it: the race of a server closing a kept-alive connection just as the
# proxy reuses it.  Logs "CONN REQ METHOD TARGET" lines.
cat >"$TMP/keepdrop.py" <<'EOF'
import os, socket, sys, threading
ready, log = sys.argv[1], sys.argv[2]
lock = threading.Lock()
count = [0]

def serve(c, cid):
    f = c.makefile("rb")
    n = 0
    try:
        while True:
            line = f.readline(8192)
            if not line:
                return
            clen = 0
            while True:
                h = f.readline(8192)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.partition(b":")
                if k.strip().lower() == b"content-length":
                    clen = int(v.strip())
            if clen:
                f.read(clen)
            n += 1
            with lock, open(log, "a") as lf:
                lf.write("%d %d %s\n" % (cid, n, " ".join(
                    line.decode("latin-1").split()[:2])))
            if n >= 2:
                c.shutdown(socket.SHUT_RDWR)
                return
            body = b"conn=%d req=%d\n" % (cid, n)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
open(log, "a").close()
with open(ready + ".tmp", "w") as r:
    r.write("%d\n" % s.getsockname()[1])
os.replace(ready + ".tmp", ready)
while True:
    c, _ = s.accept()
    count[0] += 1
    threading.Thread(target=serve, args=(c, count[0]), daemon=True).start()
EOF
python3 "$TMP/keepdrop.py" "$TMP/keepdrop.port" "$TMP/keepdrop.requests" \
    >"$TMP/keepdrop.log" 2>&1 &
track $!
wait_file "$TMP/keepdrop.port" 10 $! || fail "keepdrop server did not start"
KD_PORT=$(cat "$TMP/keepdrop.port")

DEAD_PORT=$(free_port)
EJECT_PORT=$(free_port)
while [ "$EJECT_PORT" = "$DEAD_PORT" ]; do EJECT_PORT=$(free_port); done

PROXY_PORT=$(free_port)
write_conf pool.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "reuse"; hosts = ["reuse.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_REUSE"]; },
  { name = "idle"; hosts = ["idle.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_IDLE"];
    pool = { max_idle = 1; max_connections = 100; }; },
  { name = "full"; hosts = ["full.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_FULL"];
    pool = { max_idle = 4; max_connections = 1; }; },
  { name = "rr"; hosts = ["rr.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_RR1", "127.0.0.1:$ORIGIN_PORT_RR2"];
    pool = { max_idle = 0; }; },
  { name = "stale"; hosts = ["stale.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_STALE"]; },
  { name = "keepdrop"; hosts = ["keepdrop.mcx.own.example"];
    targets = ["127.0.0.1:$KD_PORT"]; },
  { name = "dead"; hosts = ["dead.mcx.own.example"];
    targets = ["127.0.0.1:$DEAD_PORT"]; },
  { name = "fo"; hosts = ["fo.mcx.own.example"];
    targets = ["127.0.0.1:$DEAD_PORT", "127.0.0.1:$ORIGIN_PORT_FO"];
    pool = { max_idle = 0; }; },
  { name = "eject"; hosts = ["eject.mcx.own.example"];
    targets = ["127.0.0.1:$EJECT_PORT", "127.0.0.1:$ORIGIN_PORT_EJB"];
    pool = { max_idle = 0; }; health = { fails = 1; interval = 2.0; }; }
);
EOF
check_conf "$CONF"
start_proxy "$CONF"

# ---- keep-alive reuse ----------------------------------------------------------
i=1
while [ $i -le 10 ]; do
	get reuse /conn
	expect_eq "$CODE" 200 "reuse: request $i"
	expect_eq "$BODY" "conn=1 reqs=$i" "reuse: request $i went over the pooled connection"
	i=$((i + 1))
done
conns reuse "$ORIGIN_PORT_REUSE"
expect_eq "$CONNS" 1 "reuse: upstream connections for 10 client connections"
say "keep-alive reuse: 10 client connections, 1 upstream connection"

# ---- max_idle = 1 ---------------------------------------------------------------
# parallel3 TAG: 3 concurrent /slow requests; fails unless all are 200
# over 3 distinct upstream connections.
parallel3() {
	_pids=""
	for _n in 1 2 3; do
		curl_ue -D "$TMP/$1-$_n.h" -o "$TMP/$1-$_n.b" -w '%{http_code}' \
		    "$(ue_url idle.mcx.own.example "/slow?ms=1000&n=$_n")" \
		    >"$TMP/$1-$_n.code" 2>&1 &
		_pids="$_pids $!"
	done
	for _p in $_pids; do
		wait "$_p" || true
	done
	_ids=""
	for _n in 1 2 3; do
		expect_eq "$(cat "$TMP/$1-$_n.code")" 200 "max_idle: $1 request $_n"
		_ids="$_ids $(hdr "$TMP/$1-$_n.h" X-Conn-Id)"
	done
	_distinct=$(echo "$_ids" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)
	expect_eq "$_distinct" 3 "max_idle: $1: 3 concurrent requests use 3 upstream connections (ids:$_ids)"
}
parallel3 round1
conns idle "$ORIGIN_PORT_IDLE"
expect_eq "$CONNS" 3 "max_idle: connections after 3 concurrent requests"
get idle /conn
expect_eq "$CODE" 200 "max_idle: sequential request 1"
get idle /conn
expect_eq "$CODE" 200 "max_idle: sequential request 2"
conns idle "$ORIGIN_PORT_IDLE"
expect_eq "$CONNS" 3 "max_idle: sequential requests reuse the one idle connection"
# Only one of the three was kept: three concurrent requests again need 2
# new connections (3 if none was kept, 0 if all three were).
parallel3 round2
conns idle "$ORIGIN_PORT_IDLE"
expect_eq "$CONNS" 5 "max_idle = 1: connections after a second round of 3 (1 reused + 2 new)"
say "max_idle = 1: one idle connection kept"

# ---- max_connections = 1 ----------------------------------------------------------
curl_ue -o "$TMP/full-a.b" -w '%{http_code}' \
    "$(ue_url full.mcx.own.example "/slow?ms=1500")" >"$TMP/full-a.code" 2>&1 &
full_a=$!
wait_log "$TMP/origin-full.requests" '^GET /slow' 10 ||
    fail "max_connections: the first request did not reach the origin"
get full /conn
expect_eq "$CODE" 503 "max_connections = 1: second concurrent request"
ra=$(hdr "$TMP/h" Retry-After)
expect_match "$ra" '^[0-9]+$' "max_connections: 503 carries Retry-After"
expect_eq "$(origin_request_count full)" 1 "max_connections: the refused request was not forwarded"
wait "$full_a" || true
expect_eq "$(cat "$TMP/full-a.code")" 200 "max_connections: the first request completes"
get full /conn
expect_eq "$CODE" 200 "max_connections: a request once the pool has room"
say "max_connections = 1: 503 with Retry-After: $ra"

# ---- round robin ------------------------------------------------------------------
seq=""
for i in 1 2 3 4; do
	get rr /conn
	expect_eq "$CODE" 200 "round robin: request $i"
	seq="$seq $(hdr "$TMP/h" X-Origin-Name)"
done
# shellcheck disable=SC2086 # split into the four names
set -- $seq
[ "$1" != "$2" ] && [ "$1" = "$3" ] && [ "$2" = "$4" ] ||
    fail "round robin: targets do not alternate:$seq"
expect_eq "$(origin_request_count rr1)" 2 "round robin: requests to rr1"
expect_eq "$(origin_request_count rr2)" 2 "round robin: requests to rr2"
say "round robin:$seq"

# ---- pooled connection closed by the origin ---------------------------------------
get stale /conn
expect_eq "$CODE" 200 "stale: first request"
expect_eq "$BODY" "conn=1 reqs=1" "stale: first request body"
n=0
while [ "$(established "$ORIGIN_PORT_STALE")" -ne 0 ]; do
	n=$((n + 1))
	[ $n -lt 250 ] || fail "stale: origin did not close its idle connection in 5 s"
	sleep 0.02
done
get stale /conn
expect_eq "$CODE" 200 "stale: request after the origin closed the pooled connection"
expect_eq "$BODY" "conn=2 reqs=1" "stale: second request on a new connection"
say "a pooled connection closed by the origin is not used"

# ---- reused connection dropped on the next request: retry --------------------------
get keepdrop /a
expect_eq "$CODE" 200 "keepdrop: first request"
expect_eq "$BODY" "conn=1 req=1" "keepdrop: first request body"
get keepdrop /b
expect_eq "$CODE" 200 "keepdrop: GET on a reused connection the server dropped is retried"
expect_eq "$BODY" "conn=2 req=1" "keepdrop: the retry went on a fresh connection"
expect_eq "$(cat "$TMP/keepdrop.requests")" "1 1 GET /a
1 2 GET /b
2 1 GET /b" "keepdrop: requests seen by the server"
# Not idempotent: never sent twice.  (conn 2 is idle in the pool now.)
get keepdrop /c -X POST --data 'x=1'
expect_eq "$CODE" 502 "keepdrop: POST on a dropped reused connection"
expect_eq "$(grep -c 'POST /c' "$TMP/keepdrop.requests")" 1 "keepdrop: the POST was sent once"
say "dropped reused connection: GET retried (200), POST not (502)"

# ---- dead targets -------------------------------------------------------------------
t0=$(now_ms)
get dead /
expect_eq "$CODE" 502 "dead target"
[ $(($(now_ms) - t0)) -lt 5000 ] || fail "dead target: 502 took $(($(now_ms) - t0)) ms"
for i in 2 3 4; do
	get dead /
	expect_eq "$CODE" 502 "dead only target: request $i (never ejected, so not 503)"
done
for i in 1 2 3 4; do
	get fo /conn
	expect_eq "$CODE" 200 "failover: request $i (targets: dead, live)"
done
expect_eq "$(origin_request_count fo)" 4 "failover: requests on the live target"
say "dead only target: 502 each time; with a live second target: 200"

# ---- ejection and recovery ------------------------------------------------------------
get eject /conn
expect_eq "$CODE" 200 "eject: first request (A refused, retried on B)"
t_fail=$(now_ms)
wait_log "$TMP/proxy.log" "upstream eject: target 127.0.0.1:$EJECT_PORT ejected for 2.0s" 5 ||
    fail "eject: A was not ejected"
ORIGIN_LISTEN=127.0.0.1:$EJECT_PORT start_origin eject
get eject /conn
expect_eq "$CODE" 200 "eject: request while A is ejected"
if [ $(($(now_ms) - t_fail)) -lt 1500 ]; then
	expect_eq "$(origin_request_count eject)" 0 "eject: no request to A while ejected, though it is up"
fi
n=0
while [ "$(origin_request_count eject)" -eq 0 ]; do
	get eject /conn
	expect_eq "$CODE" 200 "eject: while waiting for recovery"
	n=$((n + 1))
	[ $n -lt 60 ] || fail "eject: A not used again 6 s after the ejection"
	sleep 0.1
done
dt=$(($(now_ms) - t_fail))
[ "$dt" -ge 1500 ] || fail "eject: A used again after $dt ms (interval 2.0 s)"
say "ejected target: no request for $dt ms, then used again"

stop_proxy

# ---- timeouts -------------------------------------------------------------------------
start_origin slow
cat >"$TMP/blackhole.py" <<'EOF'
# A listener whose accept queue is full: further SYNs are dropped, so a
# connect to it hangs.  Writes its port, or "0" when the probe connected.
import os, signal, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(2):
    c = socket.socket()
    c.settimeout(0.3)
    try:
        c.connect(("127.0.0.1", port))
    except OSError:
        pass
    fill.append(c)
probe = socket.socket()
probe.settimeout(0.3)
try:
    probe.connect(("127.0.0.1", port))
    port = 0
except OSError:
    pass
probe.close()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % port)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
signal.pause()
EOF
python3 "$TMP/blackhole.py" "$TMP/blackhole.port" >"$TMP/blackhole.log" 2>&1 &
track $!
wait_file "$TMP/blackhole.port" 10 $! || fail "blackhole listener did not start"
BH_PORT=$(cat "$TMP/blackhole.port")
[ "$BH_PORT" != 0 ] || BH_PORT=$(free_port)	# only for the config; see below

PROXY_PORT=$(free_port)
write_conf timeouts.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { upstream_response = 1.0; upstream_connect = 1.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "slow"; hosts = ["slow.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_SLOW"]; },
  { name = "blackhole"; hosts = ["blackhole.mcx.own.example"];
    targets = ["127.0.0.1:$BH_PORT"]; }
);
EOF
start_proxy "$CONF"

t0=$(now_ms)
get slow "/slow?ms=3000"
dt=$(($(now_ms) - t0))
expect_eq "$CODE" 504 "upstream_response = 1.0 with a 3 s origin"
[ "$dt" -ge 900 ] && [ "$dt" -le 2500 ] || fail "upstream_response: 504 after $dt ms (want about 1000)"
get slow "/slow?ms=100"
expect_eq "$CODE" 200 "upstream_response: a quick answer still passes"
say "slow upstream: 504 after $dt ms"

if [ "$(cat "$TMP/blackhole.port")" = 0 ]; then
	say "SKIPPED connect timeout: a full accept queue does not drop SYNs here"
else
	t0=$(now_ms)
	get blackhole /
	dt=$(($(now_ms) - t0))
	expect_eq "$CODE" 504 "upstream_connect = 1.0 toward a blackhole"
	[ "$dt" -ge 900 ] && [ "$dt" -le 2500 ] || fail "upstream_connect: 504 after $dt ms (want about 1000)"
	expect_match "$BODY" 'connect timed out' "upstream_connect: 504 body"
	say "connect timeout: 504 after $dt ms"
fi
stop_proxy
