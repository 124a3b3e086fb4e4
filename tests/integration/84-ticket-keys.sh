#!/bin/sh
# Session-ticket key rotation with a multi-key ticket_key_file: two
# instances of a domain, each with its own copy of the key file, resume
# each other's sessions (TLS 1.3 and 1.2) through the two-step rotation of
# mcxproxy.conf(5), one instance reloaded after the other:
#   start   [K1,K2] on both: K1 encrypts, K2 is announced
#   step 1  append K3, SIGHUP A, then B: K2 encrypts
#   step 2  remove K1 (sed -i 1d), SIGHUP A, then B: K2 still encrypts
# At every moment each instance resumes the other's tickets, also tickets
# issued before a reload; a ticket of K1 after step 2 gets a full handshake
# (the request still served).  A broken key file on SIGHUP is logged with
# the key file's line and the old keys keep serving.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

make_certs
start_origin kms

key() {
	openssl rand -base64 48 || error "openssl rand failed"
}
K1=$(key)
K2=$(key)
K3=$(key)
printf '%s\n%s\n# keys: oldest first\n\n' "$K1" "$K2" >"$TMP/a.keys"
cp "$TMP/a.keys" "$TMP/b.keys"

PA=$(free_port)
PB=$(free_port)
# conf NAME PORT: a ue listener whose ticket keys are in $TMP/NAME.keys.
conf() {
	write_conf "$1.conf" <<EOF2
domain = "mcx.own.example";
workers = 2;
log = { level = "info"; access = "stderr"; };
listeners = ( { role = "ue"; address = "127.0.0.1:$2";
  tls = { certificate = "$PKI/proxy.pem"; key = "$PKI/proxy.key";
          ticket_key_file = "$TMP/$1.keys"; }; } );
servers = ( { name = "kms"; hosts = ["kms.mcx.own.example"]; targets = ["127.0.0.1:$ORIGIN_PORT_KMS"]; } );
EOF2
	check_conf "$CONF"
}
conf a "$PA"
conf b "$PB"

# start NAME PORT: an instance logging to $TMP/NAME.log; sets PID.
start() {
	"$MCXPROXY" -c "$TMP/$1.conf" >>"$TMP/$1.log" 2>&1 &
	PID=$!
	track "$PID"
	wait_port "$2" 10 "$PID" || fail "instance $1 does not listen on $2"
}
start a "$PA"
PID_A=$PID
start b "$PB"
PID_B=$PID

# generation NAME: the generation NAME serves (1 until a reload).
generation() {
	echo $(($(grep -c 'every worker serves generation' "$TMP/$1.log") + 1))
}

# reload NAME PID: SIGHUP, then waits until every worker serves the next
# generation.
reload() {
	_gen=$(($(generation "$1") + 1))
	kill -HUP "$2" || fail "cannot send SIGHUP to $1"
	wait_log "$TMP/$1.log" "every worker serves generation $_gen" 10 ||
	    fail "$1 did not reload to generation $_gen"
}

# sc PORT OPTS...: s_client output for one request (bounded).
sc() {
	_p=$1
	shift
	printf 'GET /conn HTTP/1.1\r\nHost: kms.mcx.own.example\r\nConnection: close\r\n\r\n' |
	    timeout 20 openssl s_client -connect "127.0.0.1:$_p" -CAfile "$PKI/ca.pem" \
	    -servername proxy.mcx.own.example -ign_eof "$@" 2>&1 || true
}
port_of() {
	case $1 in
	a) echo "$PA" ;;
	*) echo "$PB" ;;
	esac
}

# issue NAME SESS: a full handshake with NAME; its session to $TMP/SESS-V.pem
# for each version V.
issue() {
	for _v in 13 12; do
		rm -f "$TMP/$2-$_v.pem"
		_out=$(sc "$(port_of "$1")" "-tls1_${_v#1}" -sess_out "$TMP/$2-$_v.pem")
		expect_match "$_out" '^New, TLSv1\.[23]' "$2 TLS1.${_v#1}: a full handshake with $1"
		expect_match "$_out" '^conn=' "$2 TLS1.${_v#1}: served by $1"
		[ -s "$TMP/$2-$_v.pem" ] || fail "$2 TLS1.${_v#1}: no session saved"
	done
}

# resumes NAME SESS: NAME resumes session SESS (both versions).
resumes() {
	for _v in 13 12; do
		_out=$(sc "$(port_of "$1")" "-tls1_${_v#1}" -sess_in "$TMP/$2-$_v.pem")
		expect_match "$_out" '^Reused, TLSv1\.[23]' "TLS1.${_v#1}: $1 resumes $2"
		expect_match "$_out" '^conn=' "TLS1.${_v#1}: $1 serves $2 resumed"
	done
}

# refuses NAME SESS: NAME makes a full handshake instead, and serves.
refuses() {
	for _v in 13 12; do
		_out=$(sc "$(port_of "$1")" "-tls1_${_v#1}" -sess_in "$TMP/$2-$_v.pem")
		expect_match "$_out" '^New, TLSv1\.[23]' "TLS1.${_v#1}: $1 does not resume $2"
		expect_match "$_out" '^conn=' "TLS1.${_v#1}: $1 serves $2 after a full handshake"
	done
}

say "start: [K1,K2] on both"
issue a s0a
issue b s0b
resumes a s0a
resumes b s0a
resumes a s0b

say "step 1: append K3 on A, reload A"
printf '%s\n' "$K3" >>"$TMP/a.keys"
reload a "$PID_A"
resumes a s0a			# issued before the reload
resumes b s0a
resumes a s0b
issue a s1a			# K2 now, which B knows already
resumes b s1a
issue b s1b			# K1 still
resumes a s1b

say "step 1: append K3 on B, reload B"
printf '%s\n' "$K3" >>"$TMP/b.keys"
reload b "$PID_B"
resumes b s1a
resumes a s1b
resumes b s1b			# issued by B before its reload
issue b s1
resumes a s1

say "step 2: remove K1 on A, reload A"
sed -i 1d "$TMP/a.keys"		# K1
reload a "$PID_A"
resumes a s1			# issued before the reload
resumes b s1
issue a s2a
resumes b s2a
issue b s2b
resumes a s2b

say "step 2: remove K1 on B, reload B"
sed -i 1d "$TMP/b.keys"
reload b "$PID_B"
resumes b s2a
resumes a s2b
resumes b s2b			# issued by B before its reload

say "K1 removed from both: a full handshake"
refuses a s0a
refuses b s0a
refuses a s1b
refuses b s0b

say "a broken key file on SIGHUP"
printf 'too-short\n' >>"$TMP/a.keys"
out=$("$MCXPROXY" -t -c "$TMP/a.conf" 2>&1) && fail "-t accepted a short ticket key"
expect_match "$out" 'a\.keys:5: a ticket key of 9 characters' "-t names the key file's line"
gen=$(generation a)
kill -HUP "$PID_A" || fail "cannot send SIGHUP to a"
wait_log "$TMP/a.log" "reload failed: generation $gen keeps serving" 10 ||
    fail "the broken key file did not fail the reload"
expect_file_match "$TMP/a.log" 'reload: .*a\.keys:5: a ticket key of 9 characters' \
    "the reload logs the key file's line"
resumes a s2a			# the old keys keep serving
resumes a s2b
issue a s3
resumes b s3
exit 0
