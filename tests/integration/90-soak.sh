#!/bin/sh
# Soak (issue 5): SOAK_SECONDS (default 120) of mixed load through 2 workers
# (tests/tools/soakload.py: keep-alive and new connections, GET and POST,
# clients aborting mid-head, mid-body and mid-response, requests to an
# upstream that cuts, resets and garbles its answers), with the resident
# memory sampled every 2 s.  Passes when no client saw an unexpected
# outcome, the proxy exits 0 on SIGTERM, the resident memory averaged over
# the last 10 s is within 15% (+8 MiB) of its average over the 10 s after
# warm-up (the first third), and,
# in the sanitizer build, no error or leak is reported.
# SOAK_VALGRIND=1 runs the proxy under valgrind (memcheck, leak check) and
# fails on any error it reports; use a non-sanitizer build for that.
# SOAK_STACKS=1: ASan records allocation stacks (see below).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

SECONDS_TOTAL=${SOAK_SECONDS:-120}
# Freed memory in ASan's quarantine would look like growth.  So would
# ASan's stack depot: it keeps the stack of every allocation and free, and
# under this load new distinct stacks keep coming (173,341, about 9 MB, in
# 5 minutes here; RSS 67 -> 99 MiB, and flat without them), so it grows
# for as long as the load runs.  The soak records no stacks:
# errors and leaks are still found, reported without the allocation's
# stack.  SOAK_STACKS=1 records them, and then skips the memory check.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
[ "${SOAK_STACKS:-0}" = 1 ] || ASAN_OPTIONS=$ASAN_OPTIONS:malloc_context_size=0
export ASAN_OPTIONS
make_certs
start_origin gms
start_faulty
PROXY_PORT=$(free_port)
ADMIN=$(free_port)
write_conf soak.conf <<EOF
domain = "mcx.own.example";
workers = 2;
log = { level = "warn"; access = "off"; };
admin = { address = "127.0.0.1:$ADMIN"; };
timeouts = { upstream_response = 2.0; client_idle = 5.0; request_header = 5.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; },
  { name = "faulty"; hosts = ["f.mcx.own.example"];
    targets = ["127.0.0.1:$FAULTY_PORT"];
    health = { fails = 1000; interval = 1.0; }; }
);
EOF
check_conf "$CONF"
if [ "${SOAK_VALGRIND:-0}" = 1 ]; then
	command -v valgrind >/dev/null 2>&1 || error "SOAK_VALGRIND=1 needs valgrind"
	real=$MCXPROXY
	MCXPROXY=$TMP/mcxproxy-valgrind
	printf '#!/bin/sh\nexec valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=3 --log-file=%s/valgrind.log %s "$@"\n' \
	    "$TMP" "$real" >"$MCXPROXY"
	chmod +x "$MCXPROXY"
fi
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN"

rss() {
	awk '/^VmRSS/ { print $2 }' "/proc/$PROXY_PID/status"
}
python3 "$TOOLS/soakload.py" "$PROXY_PORT" --cafile "$PKI/ca.pem" \
    --seconds "$SECONDS_TOTAL" --threads 8 >"$TMP/soakload.out" 2>"$TMP/soakload.err" &
LOAD=$!
track "$LOAD"
start=$(date +%s)
warm_at=$((SECONDS_TOTAL / 3))
: >"$TMP/rss.csv"
while is_alive "$LOAD"; do
	t=$(( $(date +%s) - start ))
	r=$(rss)
	echo "$t,$r" >>"$TMP/rss.csv"
	[ "$t" -lt $((SECONDS_TOTAL + 60)) ] || fail "the load did not end"
	# Sampling only: the loop ends with the load generator.
	sleep 2
done
wait "$LOAD" || fail "unexpected outcomes: $(cat "$TMP/soakload.out") $(head -20 "$TMP/soakload.err")"
# Averages over 10 s windows, right after warm-up and at the end: a leak
# grows steadily, allocator noise does not.
avg() {
	awk -F, -v a="$1" -v b="$2" '$1 >= a && $1 < b { s += $2; n++ }
	    END { if (n) printf "%d", s / n }' "$TMP/rss.csv"
}
last_t=$(tail -n 1 "$TMP/rss.csv" | cut -d, -f1)
first=$(head -n 1 "$TMP/rss.csv" | cut -d, -f2)
warm=$(avg "$warm_at" $((warm_at + 10)))
end_avg=$(avg $((last_t - 10)) $((last_t + 1)))
say "$(cat "$TMP/soakload.out")"
say "resident KiB: start $first, after warm-up (${warm_at}-$((warm_at + 10))s) ${warm:-?}, end ${end_avg:-?}; samples t,KiB: $(tr '\n' ' ' <"$TMP/rss.csv")"
[ -n "$warm" ] && [ -n "$end_avg" ] || fail "too few memory samples"
limit=$((warm + warm * 15 / 100 + 8192))
if [ "${SOAK_STACKS:-0}" = 1 ]; then
	say "SOAK_STACKS=1: memory check skipped (ASan's stack depot grows)"
else
	[ "$end_avg" -le "$limit" ] || fail "resident memory grew: $warm KiB after warm-up, $end_avg KiB at the end"
fi
# Aborted clients' connections end within the timeouts (5 s).
k=0
until [ "$(metric 'mcxproxy_client_connections{state="active"}')" = 0 ]; do
	k=$((k + 1))
	[ "$k" -lt 500 ] || fail "client connections still open 10 s after the load"
	sleep 0.02
done
stop_proxy 30
if [ "${SOAK_VALGRIND:-0}" = 1 ]; then
	say "valgrind: $(grep -c . "$TMP/valgrind.log") log lines"
	[ ! -s "$TMP/valgrind.log" ] || fail "valgrind reported: $(head -40 "$TMP/valgrind.log")"
fi
