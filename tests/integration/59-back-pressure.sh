#!/bin/sh
# Back-pressure without busy loops (issue 5): while one side of an exchange
# cannot take more, the proxy holds what it has and sleeps.  libevent 2.1
# re-runs a read callback that leaves its input at the high watermark for
# as long as reading stays enabled, so each case below once cost a full
# core per connection (src/conn.h).  Three cases, each sampled for 2 s
# of proxy CPU time, then finished to check nothing was lost:
#  1. a client that does not read a 32 MiB response (upstream input full);
#  2. a 32 MiB upload to an upstream that reads nothing for 4 s (client
#     input full);
#  3. 1500 requests pipelined behind one the upstream answers after 4 s
#     (client input full of requests that must wait);
#  4. case 1 with TLS toward the upstream (reading stops in the middle of
#     TLS records there: what OpenSSL holds must still come out).
# upstream_response (8 s) is longer than the holds: a stalled upstream
# write counts against it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin gms
start_faulty
tls_origin gmstls "$PKI/origin.pem" "$PKI/origin.key"
PROXY_PORT=$(free_port)
write_conf proxy.conf <<CONF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
timeouts = { upstream_response = 8.0; client_idle = 30.0; };
limits = { max_body_bytes = 67108864; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; },
  { name = "gmstls"; hosts = ["tls.mcx.own.example"]; targets = ["127.0.0.1:$TLS_PORT"];
    tls = { enabled = true; ca = "$PKI/ca.pem"; server_name = "origin.mcx.own.example"; }; },
  { name = "faulty"; hosts = ["f.mcx.own.example"];
    targets = ["127.0.0.1:$FAULTY_PORT"]; }
);
CONF
check_conf "$CONF"
start_proxy "$CONF"
HZ=$(getconf CLK_TCK)

cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$PROXY_PID/stat"
}

# stalled NAME WHAT MODE N [stallclient options...]: runs stallclient.py
# MODE N (output in $TMP/NAME.out); once it says its side is stalled, fails
# when the proxy uses half a second of CPU or more in the next 2 s (a busy
# loop takes all it can get); then creates $TMP/NAME.go and waits for the
# client to finish.
stalled() {
	_name=$1 _what=$2
	shift 2
	python3 "$TOOLS/stallclient.py" "$PROXY_PORT" "$@" --cafile "$PKI/ca.pem" \
	    --ready-file "$TMP/$_name.ready" --go-file "$TMP/$_name.go" \
	    >"$TMP/$_name.out" 2>"$TMP/$_name.err" &
	_client=$!
	track "$_client"
	wait_file "$TMP/$_name.ready" 20 "$_client" ||
	    fail "$_what: did not start: $(cat "$TMP/$_name.err")"
	_t0=$(cpu_ticks)
	sleep 2	# a measuring window, not a wait for readiness
	_t1=$(cpu_ticks)
	say "$_what: $((_t1 - _t0)) CPU ticks in 2 s ($HZ per second)"
	[ $((_t1 - _t0)) -lt $((HZ / 2)) ] ||
	    fail "$_what: the proxy spins ($((_t1 - _t0)) ticks in 2 s)"
	: >"$TMP/$_name.go"
	wait "$_client" || fail "$_what: did not complete: $(cat "$TMP/$_name.err")"
}

n=$((32 << 20))
stalled get "client not reading a 32 MiB response" get "$n"
expect_eq "$(head -n 1 "$TMP/get.out")" "status 200 bytes $n" "the whole response, once read"

stalled post "upstream not reading a 32 MiB upload" post "$n" --hold 4
expect_eq "$(head -n 1 "$TMP/post.out")" "status 200 bytes 12 body got=$n" "the upstream's answer"

k=1500
stalled pipe "$k requests pipelined behind a held one" pipeline "$k" --hold 4
expect_eq "$(head -n 1 "$TMP/pipe.out")" "status 200 bytes 5 body got=0" "the held request"
expect_eq "$(grep -c '^status 200 bytes 2 body ok$' "$TMP/pipe.out")" "$k" "the pipelined requests after it"

stalled gettls "client not reading a 32 MiB response from a TLS upstream" get "$n" \
    --host tls.mcx.own.example
expect_eq "$(head -n 1 "$TMP/gettls.out")" "status 200 bytes $n" "the whole response over TLS, once read"
stop_proxy
