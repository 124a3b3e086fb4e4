#!/bin/sh
# tests/package/installed.sh: the installed package's /usr/sbin/mcxproxy at
# work, started as root the way an operator would outside systemd.  Run by
# tests/package/check-deb.sh after "dpkg -i": it needs root, the package and
# its user.  Written on tests/integration/lib.sh (free ports, readiness
# polled, every process stopped on exit).
#
#   /etc/mcxproxy/demo.conf: one ue listener and the admin listener on free
#     loopback ports, the own server "gms" (an origin.py), certificates in
#     /etc/mcxproxy/tls/demo/ given as paths relative to the file, with the
#     owners and modes packaging/README.md asks for, the access log in
#     /var/log/mcxproxy/demo.log, user = group = "mcxproxy".  The file stays
#     for check-deb.sh's mcxproxy@demo.service check; check-deb.sh removes
#     it and tls/demo/ before purging the package.
#   - "mcxproxy -t" as the user mcxproxy (what the units' ExecStartPre does)
#   - started as root, it listens, then runs as mcxproxy:mcxproxy (ps), in
#     every thread, with no capabilities left
#   - a request through the ue listener reaches the origin; /healthz is 200
#   - the access log is written; after mv and SIGUSR1 (logrotate's way)
#     the proxy, now mcxproxy, creates the new file in /var/log/mcxproxy
#   - SIGTERM: exit 0
# shellcheck source-path=SCRIPTDIR source=../integration/lib.sh
MCXPROXY=/usr/sbin/mcxproxy
. "$(dirname "$0")/../integration/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (started as root, it must switch to mcxproxy)"
[ -x "$MCXPROXY" ] || error "no installed $MCXPROXY (dpkg -i first)"
getent passwd mcxproxy >/dev/null || fail "no user mcxproxy: the package did not create it"
command -v runuser >/dev/null || skip "runuser (util-linux) is not installed"

etc=/etc/mcxproxy
logdir=/var/log/mcxproxy
[ -d "$etc/tls" ] || fail "$etc/tls is missing"

# ---- an operator's instance ----------------------------------------------------
make_certs
# Like packaging/README.md: keys 0640 root:mcxproxy, certificates 0644, the
# folder closed to others as tls/ itself is.
install -d -m 0750 -o root -g mcxproxy "$etc/tls/demo"
install -m 0644 "$PKI/proxy-chain.pem" "$etc/tls/demo/proxy.pem"
install -m 0640 -o root -g mcxproxy "$PKI/proxy.key" "$etc/tls/demo/proxy.key"

start_origin gms
PROXY_PORT=$(free_port)
ADMIN_PORT=$(free_port)
CONF=$etc/demo.conf
cat >"$CONF" <<EOF
# check-deb.sh: a throwaway instance on loopback (removed after the check).
domain = "mcx.own.example";
workers = 2;
user = "mcxproxy";
group = "mcxproxy";
log = { level = "info"; access = "$logdir/demo.log"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "tls/demo/proxy.pem"; key = "tls/demo/proxy.key"; }; }
);
admin = { address = "127.0.0.1:$ADMIN_PORT"; };
servers = (
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$ORIGIN_PORT_GMS"]; }
);
idm_servers = ["idms.mcx.own.example"];
EOF
chmod 0644 "$CONF"

# ---- -t as the service user ------------------------------------------------------
out=$(runuser -u mcxproxy -- "$MCXPROXY" -t -c "$CONF" 2>&1) ||
    fail "mcxproxy -t as user mcxproxy: $out"
expect_eq "$out" "configuration OK" "mcxproxy -t -c $CONF as user mcxproxy"
say "-t as mcxproxy: $out"

# ---- started as root -----------------------------------------------------------------
start_proxy "$CONF" "$PROXY_PORT" "$ADMIN_PORT"
# Listening is not enough: privileges are dropped after binding, just
# before this line is logged.
wait_log "$TMP/proxy.log" 'serving domain' 10 || fail "no \"serving domain\" line in the proxy log"
user=$(ps -o user= -p "$PROXY_PID" | tr -d ' ')
group=$(ps -o group= -p "$PROXY_PID" | tr -d ' ')
expect_eq "$user:$group" "mcxproxy:mcxproxy" "user:group of the proxy started as root (ps)"
threads=$(ps -L -o user= -p "$PROXY_PID" | tr -d ' ' | sort -u | paste -sd ' ' -)
expect_eq "$threads" mcxproxy "users of the proxy's threads"
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$PROXY_PID/status")
expect_eq "$capeff" 0000000000000000 "effective capabilities after the switch"
say "pid $PROXY_PID runs as $user:$group, threads: $threads, CapEff $capeff"

# ---- traffic ---------------------------------------------------------------------------
code=$(curl_code "$(ue_url gms.mcx.own.example /package-check)")
expect_eq "$code" 200 "GET through the installed proxy"
expect_match "$(cat "$TMP/body")" '^origin gms: GET /package-check' "origin's answer"
expect_match "$(origin_requests gms)" '^GET /package-check$' "the origin saw the request"
code=$(curl -sS --max-time "$CURL_MAX_TIME" -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$ADMIN_PORT/healthz" || true)
expect_eq "$code" 200 "admin /healthz"
# A name the test certificate covers, but no server's.
code=$(curl_code "$(ue_url nowhere.mcx.own.example /)")
expect_eq "$code" 421 "unknown target (no open proxy)"

# ---- the access log and its rotation ----------------------------------------------------------
wait_log "$logdir/demo.log" 'path="/package-check" status=200' 5 ||
    fail "no access line for /package-check in $logdir/demo.log"
mv "$logdir/demo.log" "$logdir/demo.log.1"
signal_proxy USR1
# The new file stays empty until the next request: poll for it to exist.
n=0
until [ -e "$logdir/demo.log" ]; do
	n=$((n + 1))
	[ "$n" -lt 250 ] ||
	    fail "no new $logdir/demo.log 5 s after SIGUSR1 (the proxy runs as mcxproxy: can it write $logdir?)"
	sleep 0.02
done
owner=$(stat -c %U "$logdir/demo.log")
expect_eq "$owner" mcxproxy "owner of the access log the proxy reopened"
code=$(curl_code "$(ue_url gms.mcx.own.example /after-rotation)")
expect_eq "$code" 200 "GET after the rotation"
wait_log "$logdir/demo.log" 'path="/after-rotation"' 5 ||
    fail "the request after the rotation is not in the new access log"
say "access log reopened by $owner after SIGUSR1"

stop_proxy 15
say "SIGTERM: exit $PROXY_STATUS"
