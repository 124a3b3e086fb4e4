#!/bin/sh
# Reload on SIGHUP (contract section 2, issue 4):
#   under load (two curl loops, one opening a connection per request, one
#     keep-alive, across 2 workers) a SIGHUP that moves the gms route from
#     origin "old" to origin "new" and adds a listener: not one request fails
#     or is refused (nor during three back-to-back SIGHUPs), the slow request in flight completes (from "old"), an
#     idle keep-alive connection opened before carries on and its next request
#     goes to "new", new requests reach "new" only, the new listener accepts
#   sd_notify: READY=1, then RELOADING=1 and READY=1 around the reload,
#     STOPPING=1 at the end (NOTIFY_SOCKET as systemd sets it)
#   a broken file: logged with FILE:LINE, the running generation keeps
#     serving (requests still reach "new")
#   a certificate renewed by an atomic symlink swap (ECDSA -> RSA leaf) is
#     served after SIGHUP; connections made before keep working
#   as root with user = "nobody": the proxy runs as nobody after binding and
#     still reads the renewed certificate on reload (group-readable files);
#     its access log file, opened as root, is nobody's and SIGUSR1 reopens it
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin old
start_origin new
PROXY_PORT=$(free_port)
PORT2=$(free_port)
HOST=gms.mcx.own.example

# Certificates behind a "live" symlink, swapped the way certbot-style
# renewals do it: a new symlink renamed over the old one (atomic).
mkdir -p "$TMP/certs/ec" "$TMP/certs/rsa"
cp "$PKI/proxy-chain.pem" "$TMP/certs/ec/chain.pem"
cp "$PKI/proxy.key" "$TMP/certs/ec/key.pem"
cp "$PKI/proxy-rsa-chain.pem" "$TMP/certs/rsa/chain.pem"
cp "$PKI/proxy-rsa.key" "$TMP/certs/rsa/key.pem"
ln -s ec "$TMP/certs/live"

# conf NAME ORIGIN-PORT [EXTRA-LISTENER-PORT] [EXTRA-TOP-LEVEL]: gms goes to
# ORIGIN-PORT; certificates from $LIVE.
LIVE=$TMP/certs/live
conf() {
	_extra=""
	[ -z "${3:-}" ] || _extra=",
  { role = \"ue\"; address = \"127.0.0.1:$3\";
    tls = { certificate = \"$LIVE/chain.pem\"; key = \"$LIVE/key.pem\"; }; }"
	write_conf "$1" <<EOF
domain = "mcx.own.example";
workers = 2;
${4:-}
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT";
    tls = { certificate = "$LIVE/chain.pem"; key = "$LIVE/key.pem"; }; }$_extra
);
servers = (
  { name = "gms"; hosts = ["$HOST"]; targets = ["127.0.0.1:$2"]; }
);
EOF
}

# served_fingerprint PORT: SHA-256 fingerprint of the certificate served.
served_fingerprint() {
	openssl s_client -connect "127.0.0.1:$1" -servername proxy.mcx.own.example \
	    </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256
}

# load_loop NAME N-URLS: curl rounds of N-URLS requests each (one connection
# per round, keep-alive inside it), appending each status to
# $TMP/load-NAME.codes, until $TMP/load.stop exists; at most 600 rounds.
load_loop() {
	_i=0
	_urls=""
	_j=0
	while [ "$_j" -lt "$2" ]; do
		_urls="$_urls -o /dev/null $(ue_url $HOST /load-$1)"
		_j=$((_j + 1))
	done
	while [ ! -f "$TMP/load.stop" ] && [ "$_i" -lt 600 ]; do
		# shellcheck disable=SC2086
		curl_ue -w '%{http_code}\n' $_urls >>"$TMP/load-$1.codes" \
		    2>>"$TMP/load-$1.errors" || true
		_i=$((_i + 1))
	done
}

# wait_lines FILE N: until FILE has N lines (10 s).
wait_lines() {
	_k=0
	while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
		_k=$((_k + 1))
		[ "$_k" -lt 500 ] || fail "$1: fewer than $2 lines after 10 s"
		sleep 0.02
	done
}

# wait_generation MIN: until no reload is running and the proxy serves
# generation MIN or later (10 s); sets GEN.
wait_generation() {
	_k=0
	while :; do
		_last=$(grep -E 'reload: (reading|every worker serves)|reload failed' \
		    "$TMP/proxy.log" | tail -n 1)
		GEN=$(printf '%s' "$_last" | sed -n 's/.*every worker serves generation \([0-9]*\).*/\1/p')
		[ -z "$GEN" ] || [ "$GEN" -lt "$1" ] || return 0
		_k=$((_k + 1))
		[ "$_k" -lt 500 ] || fail "generation $1 not served after 10 s: $_last"
		sleep 0.02
	done
}

notify_listen

# ---- reload under load -----------------------------------------------------------
conf reload.conf "$ORIGIN_PORT_OLD"
check_conf "$CONF"
NOTIFY_SOCKET=$TMP/notify.sock
export NOTIFY_SOCKET
start_proxy "$CONF"
unset NOTIFY_SOCKET
wait_log "$TMP/notify.log" 'READY=1' 10 || fail "no READY=1 from sd_notify"

# A keep-alive connection: one request now, the next only after the reload.
printf 'GET /before HTTP/1.1\r\nHost: %s\r\n\r\n\000GET /after HTTP/1.1\r\nHost: %s\r\n\r\n' \
    "$HOST" "$HOST" | h1c --methods GET,GET --wait-file "$TMP/go" --timeout 30 \
    >"$TMP/keepalive.out" &
KA_PID=$!
track "$KA_PID"
# A slow request in flight across the reload.
curl_ue -o "$TMP/slow.body" -w '%{http_code}' "$(ue_url $HOST '/slow?ms=2500')" \
    >"$TMP/slow.code" 2>"$TMP/slow.err" &
SLOW_PID=$!
track "$SLOW_PID"
load_loop conn 1 &
LOOP1=$!
track "$LOOP1"
load_loop ka 5 &
LOOP2=$!
track "$LOOP2"
wait_lines "$TMP/load-conn.codes" 20
wait_lines "$TMP/load-ka.codes" 50
wait_log "$TMP/origin-old.requests" 'GET /before' 10 || fail "keep-alive request 1 not seen"
wait_log "$TMP/origin-old.requests" 'GET /slow' 10 || fail "slow request not at origin"

conf reload.conf "$ORIGIN_PORT_NEW" "$PORT2"
check_conf "$CONF"
signal_proxy HUP
wait_log "$TMP/proxy.log" 'every worker serves generation 2' 10 ||
    fail "reload not applied: $(tail -5 "$TMP/proxy.log")"
before_conn=$(wc -l <"$TMP/load-conn.codes")
before_ka=$(wc -l <"$TMP/load-ka.codes")
new_at_reload=$(origin_request_count new)
wait_port "$PORT2" 5 || fail "the listener added by the reload does not accept"
# Three more at once, still under load: one runs, and those arriving while
# it runs make one more after it (the kernel may merge them before that).
signal_proxy HUP
signal_proxy HUP
signal_proxy HUP
wait_generation 3
say "three SIGHUPs at once: generation $GEN"
touch "$TMP/go"
wait_lines "$TMP/load-conn.codes" $((before_conn + 40))
wait_lines "$TMP/load-ka.codes" $((before_ka + 100))
touch "$TMP/load.stop"
wait_dead "$SLOW_PID" 10 || fail "the slow request did not end"
wait_dead "$KA_PID" 10 || fail "the keep-alive client did not end"
wait_dead "$LOOP1" 10 || fail "load loop 1 did not end"
wait_dead "$LOOP2" 10 || fail "load loop 2 did not end"

expect_eq "$(cat "$TMP/slow.code")" 200 "the request in flight during the reload"
expect_match "$(cat "$TMP/slow.body")" '^slept 2500 ms' "the request in flight: its body"
ka=$(cat "$TMP/keepalive.out")
expect_match "$ka" '1:STATUS HTTP/1.1 200' "keep-alive connection: request before the reload"
expect_match "$ka" '1:B origin old: GET /before' "request before the reload went to the old target"
expect_match "$ka" '2:STATUS HTTP/1.1 200' "the same connection after the reload"
expect_match "$ka" '2:B origin new: GET /after' "its next request goes by the new configuration"

total=0
for n in conn ka; do
	codes=$TMP/load-$n.codes
	bad=$(grep -cv '^200$' "$codes" || true)
	total=$((total + $(wc -l <"$codes")))
	expect_eq "$bad" 0 "load-$n: non-200 answers: $(sort "$codes" | uniq -c | tr '\n' ' ') $(head -3 "$TMP/load-$n.errors" 2>/dev/null)"
	[ ! -s "$TMP/load-$n.errors" ] || fail "load-$n: curl errors: $(head -3 "$TMP/load-$n.errors")"
done
old_after=$(grep -c '/load-' "$TMP/origin-old.requests")
new_after=$(grep -c '/load-' "$TMP/origin-new.requests")
expect_ne "$new_after" 0 "requests after the reload reach the new target"
[ "$(origin_request_count new)" -gt "$new_at_reload" ] || fail "no request reached the new target after the reload"
say "reload under load: $total requests, all 200 ($old_after before the reload at old, $new_after after at new)"
# Once applied, nothing new goes to the old target.
old_count=$(origin_request_count old)
for i in 1 2 3 4 5; do
	expect_eq "$(curl_code "$(ue_url $HOST /after-$i)")" 200 "request $i after the reload"
	expect_match "$(cat "$TMP/body")" '^origin new: GET /after' "request $i after the reload: target"
done
expect_eq "$(origin_request_count old)" "$old_count" "requests to the old target after the reload"
expect_eq "$(curl_ue -o /dev/null -w '%{http_code}' --resolve "*:$PORT2:127.0.0.1" \
    "https://$HOST:$PORT2/via-new-listener")" 200 "a request through the added listener"
wait_log "$TMP/notify.log" 'RELOADING=1' 5 || fail "no RELOADING=1 from sd_notify"
expect_match "$(sed -n '/RELOADING=1/,$p' "$TMP/notify.log")" 'READY=1' "READY=1 after RELOADING=1"

# ---- a broken file keeps the running generation --------------------------------
cp "$CONF" "$TMP/good.conf"
write_conf reload.conf <<EOF
domain = "mcx.own.example";
workers = 2;
listeners = (
  { role = "ue"; address = "127.0.0.1:$PROXY_PORT"; tls = { certificate = "$TMP/certs/live/chain.pem"; key = "$TMP/certs/live/key.pem"; }; }
);
servers = ( { name = "gms"; hosts = ["$HOST"]; targets = ["127.0.0.1:99999"]; } );
EOF
signal_proxy HUP
wait_log "$TMP/proxy.log" "reload failed: generation $GEN keeps serving" 10 ||
    fail "a broken file was not reported"
expect_file_match "$TMP/proxy.log" "reload: $TMP/reload.conf:6: " "the broken line is named"
expect_eq "$(curl_code "$(ue_url $HOST /still)")" 200 "after a failed reload"
expect_match "$(cat "$TMP/body")" '^origin new: GET /still' "the running generation keeps serving"
is_alive "$PROXY_PID" || fail "mcxproxy died on a broken reload"

# ---- a renewed certificate behind a symlink ------------------------------------
cp "$TMP/good.conf" "$TMP/reload.conf"
expect_eq "$(served_fingerprint "$PROXY_PORT")" "$(file_fingerprint "$TMP/certs/ec/chain.pem")" \
    "certificate before the renewal"
ln -s rsa "$TMP/certs/live.new"
mv -T "$TMP/certs/live.new" "$TMP/certs/live"
# Served as it was until the reload: a file change alone does nothing.
expect_eq "$(served_fingerprint "$PROXY_PORT")" "$(file_fingerprint "$TMP/certs/ec/chain.pem")" \
    "certificate after the swap, before SIGHUP"
signal_proxy HUP
wait_generation $((GEN + 1))
expect_eq "$(served_fingerprint "$PROXY_PORT")" "$(file_fingerprint "$TMP/certs/rsa/chain.pem")" \
    "certificate after the renewal and SIGHUP"
expect_eq "$(served_fingerprint "$PORT2")" "$(file_fingerprint "$TMP/certs/rsa/chain.pem")" \
    "the same on the other listener"
stop_proxy
wait_log "$TMP/notify.log" 'STOPPING=1' 5 || fail "no STOPPING=1 from sd_notify"
expect_no_match "$(cat "$TMP/proxy.log")" 'ERROR|AddressSanitizer|runtime error' "proxy log"

# ---- as root: privileges dropped, renewed certificates still read --------------
if [ "$(id -u)" -ne 0 ]; then
	say "not root: the privilege-drop case needs root (CI runs as root)"
	[ "${CI:-}" != true ] || fail "CI must run this test as root"
	exit 0
fi
nobody_group=$(id -gn nobody)
# nobody must reach the files: the test folder is private to root otherwise.
chmod 755 "$TMP"
mkdir -p "$TMP/priv"
cp -r "$TMP/certs/ec" "$TMP/certs/rsa" "$TMP/priv/"
ln -s ec "$TMP/priv/live"
chown -R root:"$nobody_group" "$TMP/priv"
chmod 750 "$TMP/priv" "$TMP/priv/ec" "$TMP/priv/rsa"
chmod 640 "$TMP/priv"/*/*.pem
PROXY_PORT=$(free_port)
LIVE=$TMP/priv/live
conf priv.conf "$ORIGIN_PORT_NEW" "" "user = \"nobody\"; group = \"$nobody_group\";"
# The access log is opened as root, before the switch to nobody.
mkdir "$TMP/plog"
sed -i "s#access = \"stderr\"#access = \"$TMP/plog/access.log\"#" "$CONF"
check_conf "$CONF"
mv "$TMP/proxy.log" "$TMP/proxy-1.log"
start_proxy "$CONF"
expect_eq "$(ps -o user= -p "$PROXY_PID" | tr -d ' ')" nobody "the user after binding"
expect_eq "$(served_fingerprint "$PROXY_PORT")" "$(file_fingerprint "$TMP/priv/ec/chain.pem")" \
    "as nobody: certificate at start"
ln -s rsa "$TMP/priv/live.new"
mv -T "$TMP/priv/live.new" "$TMP/priv/live"
signal_proxy HUP
wait_log "$TMP/proxy.log" 'reload: generation 2 built' 10 ||
    fail "reload as nobody failed: $(tail -5 "$TMP/proxy.log")"
wait_generation 2
expect_eq "$(served_fingerprint "$PROXY_PORT")" "$(file_fingerprint "$TMP/priv/rsa/chain.pem")" \
    "as nobody: the renewed certificate after SIGHUP"
expect_eq "$(curl_code "$(ue_url $HOST /as-nobody)")" 200 "a request as nobody"
expect_eq "$(stat -c %U "$TMP/plog/access.log")" nobody "the access log belongs to nobody"
# SIGUSR1 without a rotation reopens the same file: still writable.
signal_proxy USR1
expect_eq "$(curl_code "$(ue_url $HOST /after-reopen)")" 200 "a request after SIGUSR1"
wait_log "$TMP/plog/access.log" 'after-reopen' 5 || fail "not logged after SIGUSR1 as nobody"
expect_no_match "$(cat "$TMP/proxy.log")" 'cannot reopen' "reopen as nobody"
stop_proxy
