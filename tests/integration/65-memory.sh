#!/bin/sh
# Large bodies stream through the proxy with bounded memory (contract
# section 4: "bodies stream both ways with back-pressure, chunked or
# sized").  Bodies are the origin's /bytes pattern (origin.py --emit-bytes),
# where every 16-byte line names its offset, so a lost, repeated or moved
# byte cannot go unnoticed:
#   A. 1 GiB download, sized            -> cmp with the pattern
#   B. 256 MiB download, chunked        -> cmp with the pattern
#   C. 1 GiB upload, chunked (curl -T -) -> the origin's sha256 = expected
#   D. 256 MiB upload, sized            -> the origin's sha256 = expected
#   E. 256 MiB POST /echo, chunked both ways at once -> cmp
#   F. 128 MiB download by a slow client (--limit-rate 40M): the proxy must
#      stop reading the origin instead of buffering -> cmp
#   G. 20 chunked uploads of 8 MiB one after the other: each must arrive
#      whole (a re-framing error that ends the chunked body early, e.g. a
#      spurious zero-size chunk, shows up here more often than in one
#      long upload: it has been seen within the first megabytes)
# During all of them the proxy's VmRSS (/proc/PID/status, every 100 ms)
# must stay within 64 MiB of its RSS after a warm-up request.
# Every transfer is bounded (curl --max-time 120).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# Under AddressSanitizer (tests/run-all.sh) freed memory waits in a
# quarantine of up to 256 MiB: that is not the proxy's footprint, so the
# quarantine is off for this test (the other tests keep it).
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
export ASAN_OPTIONS

GIB=1073741824
M256=268435456
M128=134217728
RSS_SLACK_KB=65536
CURL_MAX_TIME=120

start_origin gms --quiet
PROXY_PORT=$(free_port)
make_certs
write_conf mem.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
limits = { max_body_bytes = 0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
start_proxy "$CONF"
URL=https://gms.mcx.own.example:$PROXY_PORT

# bad MSG: records a failure; every transfer runs, the test fails at the end.
BAD=""
bad() {
	echo "# $TEST_NAME: MISMATCH: $*" >&2
	BAD="$BAD
  $*"
}

emit() {
	python3 "$TOOLS/origin.py" --emit-bytes "$1"
}

# Expected upload digests, computed while the downloads run.
M8=8388608
for n in $GIB $M256 $M8; do
	( emit "$n" | openssl dgst -sha256 -r | cut -d' ' -f1 >"$TMP/sha-$n.tmp" &&
	    mv "$TMP/sha-$n.tmp" "$TMP/sha-$n" ) &
	track $!
done

# Warm-up, then the baseline.
expect_eq "$(curl_code "$URL/bytes?n=100000")" 200 "warm-up request"
expect_eq "$(curl_code -T "$TMP/body" "$URL/upload")" 200 "warm-up upload"
base=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status")
[ -n "$base" ] || error "cannot read VmRSS of pid $PROXY_PID"
say "baseline VmRSS ${base} kB"

python3 - "$PROXY_PID" "$TMP/rss" <<'EOF' &
import sys, time
pid, out = sys.argv[1], sys.argv[2]
with open(out, "a", buffering=1) as f:
    while True:
        try:
            with open("/proc/%s/status" % pid) as s:
                for line in s:
                    if line.startswith("VmRSS:"):
                        f.write(line.split()[1] + "\n")
        except OSError:
            break
        time.sleep(0.1)
EOF
track $!
wait_file "$TMP/rss" 5 || error "the RSS sampler did not start"

# phase_begin / phase_end NAME: the peak RSS of the samples in between.
phase_begin() {
	PHASE_START=$(wc -l <"$TMP/rss")
	PHASE_T0=$(date +%s%3N)
}
phase_end() {
	sleep 0.2	# at least one more sample (the sampler writes every 0.1 s)
	_peak=$(tail -n "+$((PHASE_START + 1))" "$TMP/rss" | sort -n | tail -n 1)
	_grow=$((_peak - base))
	say "$1: $(($(date +%s%3N) - PHASE_T0)) ms, peak VmRSS ${_peak} kB (+${_grow} kB)"
	[ "$_grow" -le "$RSS_SLACK_KB" ] ||
	    bad "$1: VmRSS grew by ${_grow} kB (limit ${RSS_SLACK_KB} kB)"
}

# download NAME N QUERY [curl args]: GET /bytes?n=N$QUERY, compared byte for
# byte with the pattern.
download() {
	x_name=$1
	x_n=$2
	x_q=$3
	shift 3
	rm -f "$TMP/exp.fifo"
	mkfifo "$TMP/exp.fifo"
	emit "$x_n" >"$TMP/exp.fifo" 2>/dev/null &
	track $!
	phase_begin
	_cmp=0
	{ curl_ue -D "$TMP/$x_name.h" "$@" "$URL/bytes?n=$x_n$x_q"; echo $? >"$TMP/$x_name.rc"; } |
	    cmp - "$TMP/exp.fifo" >"$TMP/$x_name.cmp" 2>&1 || _cmp=$?
	phase_end "$x_name"
	[ "$(cat "$TMP/$x_name.rc")" = 0 ] || bad "$x_name: curl exit status $(cat "$TMP/$x_name.rc")"
	grep -q '^HTTP/1\.1 200 ' "$TMP/$x_name.h" || bad "$x_name: status $(head -n 1 "$TMP/$x_name.h")"
	[ "$_cmp" -eq 0 ] || bad "$x_name: body differs from the pattern: $(cat "$TMP/$x_name.cmp")"
}

# upload NAME N [curl args]: the pattern to /upload; checks the origin's digest.
upload() {
	x_name=$1
	x_n=$2
	shift 2
	wait_file "$TMP/sha-$x_n" 120 || error "expected digest of $x_n bytes not computed"
	phase_begin
	rm -f "$TMP/$x_name.out"
	_code=$(emit "$x_n" | curl_ue -o "$TMP/$x_name.out" -w '%{http_code}' -T - "$@" \
	    "$URL/upload") || true
	phase_end "$x_name"
	_want="bytes=$x_n sha256=$(cat "$TMP/sha-$x_n")"
	_got=$(cat "$TMP/$x_name.out" 2>/dev/null || true)
	[ "$_code" = 200 ] && [ "$_got" = "$_want" ] ||
	    bad "$x_name: status $_code, origin's answer '$(printf '%s' "$_got" | head -c 100)'"
}

download "A 1 GiB sized download" $GIB ""
download "B 256 MiB chunked download" $M256 "&chunked=1"
upload "C 1 GiB chunked upload" $GIB
upload "D 256 MiB sized upload" $M256 -H "Content-Length: $M256" -H "Transfer-Encoding:"

# E: both directions at once through /echo (chunked up, chunked down).
rm -f "$TMP/exp.fifo"
mkfifo "$TMP/exp.fifo"
emit $M256 >"$TMP/exp.fifo" 2>/dev/null &
track $!
phase_begin
cmp_rc=0
emit $M256 | { curl_ue -D "$TMP/echo.h" -T - -X POST -H 'Content-Type: application/octet-stream' \
    "$URL/echo"; echo $? >"$TMP/echo.rc"; } | cmp - "$TMP/exp.fifo" >"$TMP/echo.cmp" 2>&1 || cmp_rc=$?
phase_end "E 256 MiB echo"
[ "$(cat "$TMP/echo.rc")" = 0 ] || bad "E echo: curl exit status $(cat "$TMP/echo.rc")"
grep '^HTTP/' "$TMP/echo.h" | tail -n 1 | grep -q '^HTTP/1\.1 200 ' ||
    bad "E echo: final status $(grep '^HTTP/' "$TMP/echo.h" | tail -n 1)"
[ "$cmp_rc" -eq 0 ] || bad "E echo: body differs: $(cat "$TMP/echo.cmp")"

download "F 128 MiB to a slow client" $M128 "" --limit-rate 40M

wait_file "$TMP/sha-$M8" 120 || error "expected digest of $M8 bytes not computed"
phase_begin
g_bad=""
i=1
while [ $i -le 20 ]; do
	rm -f "$TMP/g.out"
	code=$(emit $M8 | curl_ue -o "$TMP/g.out" -w '%{http_code}' -T - "$URL/upload") || true
	got="$code $(cat "$TMP/g.out" 2>/dev/null | head -c 100)"
	[ "$got" = "200 bytes=$M8 sha256=$(cat "$TMP/sha-$M8")" ] || g_bad="$g_bad
    upload $i: $got"
	i=$((i + 1))
done
phase_end "G 20 chunked uploads of 8 MiB"
[ -z "$g_bad" ] || bad "G: chunked uploads that did not arrive whole (status, origin's answer):$g_bad"

is_alive "$PROXY_PID" || fail "mcxproxy died;$BAD"
stop_proxy
[ -z "$BAD" ] || fail "streaming problems:$BAD"
