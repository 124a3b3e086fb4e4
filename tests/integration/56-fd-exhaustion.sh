#!/bin/sh
# Out of file descriptors (issue 5): the proxy runs with RLIMIT_NOFILE 64
# and 80 TCP connections are opened and held.  Accepting must pause (logged
# "pausing for 1s"), not spin: the proxy uses well under half a CPU second
# over the next 2 s; it must not crash; once the connections close, a
# normal request is served again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v prlimit >/dev/null 2>&1 || error "prlimit (util-linux) is missing"
make_certs
start_origin gms
PROXY_PORT=$(free_port)
write_conf fd.conf <<EOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "off"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; }
);
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
EOF
check_conf "$CONF"
real=$MCXPROXY
MCXPROXY=$TMP/mcxproxy-64fds
printf '#!/bin/sh\nexec prlimit --nofile=64:64 -- %s "$@"\n' "$real" >"$MCXPROXY"
chmod +x "$MCXPROXY"
start_proxy "$CONF"

# cpu_ticks PID: user + system time in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

python3 - "$PROXY_PORT" "$TMP/hold.ready" "$TMP/hold.release" >"$TMP/hold.out" 2>&1 <<'EOF' &
# Opens 80 connections (those the kernel queues count too) and holds them
# until the release file appears (30 s at most).
import os, socket, sys, time
port, ready, release = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held = []
for _ in range(80):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError as e:
        print("connect: %s" % e)
with open(ready, "w") as f:   # not empty: wait_file waits for content
    f.write("%d\n" % len(held))
end = time.monotonic() + 30
while not os.path.exists(release) and time.monotonic() < end:
    time.sleep(0.05)
for s in held:
    s.close()
print("held %d" % len(held))
EOF
HOLD=$!
track "$HOLD"
wait_file "$TMP/hold.ready" 20 "$HOLD" || fail "the holder did not open its connections"
wait_log "$TMP/proxy.log" 'accept: .*pausing for 1s' 10 ||
    fail "no accept pause logged: $(tail -5 "$TMP/proxy.log")"
t0=$(cpu_ticks "$PROXY_PID")
# Measuring CPU use over a fixed span, not waiting for readiness.
sleep 2
t1=$(cpu_ticks "$PROXY_PID")
ticks=$(getconf CLK_TCK)
say "CPU while out of descriptors: $((t1 - t0)) ticks in 2 s ($ticks per second)"
[ $((t1 - t0)) -lt $((ticks / 2)) ] || fail "the proxy spins while out of descriptors: $((t1 - t0)) ticks in 2 s"
is_alive "$PROXY_PID" || fail "mcxproxy died when out of descriptors"
touch "$TMP/hold.release"
wait_dead "$HOLD" 10 || fail "the holder did not end"
say "$(cat "$TMP/hold.out" | tail -1)"
# Accepting resumes: a request is served within a few back-off periods.
k=0
until [ "$(curl_code "$(ue_url gms.mcx.own.example /after)")" = 200 ]; do
	k=$((k + 1))
	[ "$k" -lt 50 ] || fail "no request served after the descriptors came back"
	sleep 0.1
done
expect_match "$(cat "$TMP/body")" 'GET /after' "a request after the descriptors came back"
stop_proxy
