#!/bin/bash
# demo/run.sh: mcxproxy in front of a demo KMS and GMS, in one command.
#
#   ./demo/run.sh           install missing build packages, build, start a
#                           throwaway PKI + two origins + the proxy, print curl
#                           lines to try; Ctrl-C stops everything
#   ./demo/run.sh --check   the same, but run the curl lines, verify the
#                           answers, stop, exit 0/1 (the default when stdin is
#                           not a terminal or CI=true)
#
# Environment: MCX_DEMO_PORT (8443) the proxy's ue listener port;
# MCX_DEMO_NO_BUILD=1 skips packages and build and uses $MCXPROXY (default
# ./mcxproxy of an in-tree build, else build/demo/mcxproxy).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${MCX_DEMO_PORT:-8443}
mode=run
if [[ ${CI:-} == true || ! -t 0 ]]; then
	mode=check
fi
for arg in "$@"; do
	case $arg in
	--check) mode=check ;;
	--run) mode=run ;;
	-h | --help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--check|--run]" >&2; exit 2 ;;
	esac
done

say() { echo "demo: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- build ---------------------------------------------------------------
if [[ ${MCX_DEMO_NO_BUILD:-} == 1 ]]; then
	mcxproxy=${MCXPROXY:-$top/mcxproxy}
else
	# shellcheck source-path=SCRIPTDIR/.. source=scripts/deps.sh
	. "$top/scripts/deps.sh"
	deps_ensure build || die "install the packages above, then run again"
	[[ -x $top/configure ]] || (cd "$top" && autoreconf -fi) ||
	    die "autoreconf failed"
	if [[ -f $top/config.status ]]; then
		# configured in the tree already: build there
		bdir=$top
	else
		bdir=$top/build/demo
		mkdir -p "$bdir"
		[[ -f $bdir/Makefile ]] || (cd "$bdir" && ../../configure) ||
		    die "configure failed"
	fi
	say "building in $bdir"
	make -C "$bdir" -j2 >&2 || die "build failed"
	mcxproxy=$bdir/mcxproxy
fi
[[ -x $mcxproxy ]] || die "no mcxproxy binary at $mcxproxy"

# ---- processes and cleanup -------------------------------------------------
dir=$(mktemp -d "${TMPDIR:-/tmp}/mcxproxy-demo.XXXXXX")
pids=()
proxy_pid=""
failed=0

cleanup() {
	local rc=$? p n
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for ((n = 0; n < 250; n++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.02
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [[ $rc -ne 0 && $mode == check ]]; then
		for f in "$dir"/*.log; do
			[[ -f $f ]] || continue
			echo "---- ${f##*/} ----" >&2
			tail -n 100 "$f" >&2
		done
	fi
	rm -rf "$dir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_port PORT PID: polls (10 s at most) until PORT accepts, while PID lives.
wait_port() {
	local n
	for ((n = 0; n < 500; n++)); do
		if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 2
		sleep 0.02
	done
	return 1
}

# start_origin NAME: origin.py on a free port; sets origin_port.
start_origin() {
	local n
	python3 "$top/tests/tools/origin.py" --listen 127.0.0.1:0 --name "$1" \
	    --ready-file "$dir/$1.port" >"$dir/origin-$1.log" 2>&1 &
	pids+=($!)
	for ((n = 0; n < 500; n++)); do
		[[ -s $dir/$1.port ]] && break
		kill -0 "$!" 2>/dev/null || die "origin $1 exited"
		sleep 0.02
	done
	[[ -s $dir/$1.port ]] || die "origin $1 did not start"
	origin_port=$(<"$dir/$1.port")
}

# ---- PKI, origins, configuration --------------------------------------------
sh "$top/tests/tools/mkcerts.sh" "$dir/pki"
start_origin kms
kms_port=$origin_port
start_origin gms
gms_port=$origin_port

conf=$dir/mcxproxy.conf
cat >"$conf" <<EOF
# mcxproxy demo configuration, written by demo/run.sh (contract section 3).
domain = "mcx.own.example";
log = { level = "info"; access = "stderr"; };

listeners = (
  { role = "ue"; address = "127.0.0.1:$port";
    tls = { certificate = "$dir/pki/proxy-chain.pem"; key = "$dir/pki/proxy.key"; }; }
);

servers = (
  { name = "kms"; hosts = ["kms.mcx.own.example"]; paths = ["/keymanagement/"];
    targets = ["127.0.0.1:$kms_port"]; },
  { name = "gms"; hosts = ["gms.mcx.own.example"];
    targets = ["127.0.0.1:$gms_port"]; }
);

idm_servers = ["idms.mcx.own.example"];
EOF

"$mcxproxy" -t -c "$conf" >&2 || die "mcxproxy -t rejected $conf"

if [[ $mode == check ]]; then
	"$mcxproxy" -c "$conf" >"$dir/proxy.log" 2>&1 &
else
	"$mcxproxy" -c "$conf" &
fi
proxy_pid=$!
pids+=("$proxy_pid")
rc=0
wait_port "$port" "$proxy_pid" || rc=$?
case $rc in
0) ;;
2) die "mcxproxy exited before listening on 127.0.0.1:$port" ;;
*) die "mcxproxy does not listen on 127.0.0.1:$port after 10 s" ;;
esac

# ---- the requests -------------------------------------------------------------
kms_body='<KmsRequest Version="1.1.0"><UserUri>sip:alice@mcx.own.example</UserUri><KmsUri>kms.mcx.own.example</KmsUri><Time>2026-01-26T10:07:14Z</Time><ClientReqUrl>https://kms.mcx.own.example/keymanagement/identity/v1/init</ClientReqUrl></KmsRequest>'
gms_path=/org.openmobilealliance.groups/users/sip:alice@mcx.own.example/index
ca=$dir/pki/ca.pem

# The three demo requests, as printed and as checked.
kms_cmd=(curl -sS --cacert "$ca" --resolve "kms.mcx.own.example:$port:127.0.0.1"
	-H 'Authorization: Bearer demo-token' -H 'Content-Type: application/xml'
	-X POST --data "$kms_body"
	"https://kms.mcx.own.example:$port/keymanagement/identity/v1/init")
gms_cmd=(curl -sS --cacert "$ca" --resolve "gms.mcx.own.example:$port:127.0.0.1"
	-H 'Accept: application/vnd.oma.poc.groups+xml'
	"https://gms.mcx.own.example:$port$gms_path")
abs_cmd=(curl -sS --proxy "https://localhost:$port" --proxy-cacert "$ca"
	"http://gms.mcx.own.example$gms_path")

show() {
	local a out=""
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:@=+,-]+$ ]]; then
			out+="$a "
		else
			out+="'${a//\'/\'\\\'\'}' "
		fi
	done
	echo "  ${out% }"
}

if [[ $mode == run ]]; then
	cat <<EOF

mcxproxy is listening on https://127.0.0.1:$port (pid $proxy_pid), in front of
a demo KMS on 127.0.0.1:$kms_port and a demo GMS on 127.0.0.1:$gms_port.
Configuration: $conf
Test CA:       $ca

KMS initialisation (CSC-8), routed by host and path:
$(show "${kms_cmd[@]}")

GMS group document (CSC-2, XCAP):
$(show "${gms_cmd[@]}")

The same through the proxy as an HTTP proxy (absolute-form request):
$(show "${abs_cmd[@]}")

Unknown host (421: no open proxy) and IdM server (403: CSC-1 goes direct):
$(show curl -sS --cacert "$ca" --resolve "nowhere.mcx.own.example:$port:127.0.0.1" "https://nowhere.mcx.own.example:$port/")
$(show curl -sS --cacert "$ca" --resolve "idms.mcx.own.example:$port:127.0.0.1" "https://idms.mcx.own.example:$port/authorize")

Access log lines appear below. Ctrl-C stops the proxy and the origins.
EOF
	rc=0
	wait "$proxy_pid" || rc=$?
	say "mcxproxy exited with status $rc"
	exit "$rc"
fi

# check mode: each request must answer as expected.
check() {	# check NAME WANT-CODE BODY-REGEX CURL-ARGV...
	local name=$1 want=$2 re=$3 code body
	shift 3
	body=$("$@" -w '\n%{http_code}' 2>"$dir/curl.err") || true
	code=${body##*$'\n'}
	body=${body%$'\n'*}
	if [[ $code == "$want" ]] && grep -q -E -- "$re" <<<"$body"; then
		say "ok: $name ($code)"
	else
		say "FAILED: $name: status $code (want $want), body:"
		printf '%s\n' "$body" | head -n 20 >&2
		cat "$dir/curl.err" >&2
		failed=1
	fi
}

check "KMS init" 200 '<UserUri>sip:alice@mcx\.own\.example</UserUri>' "${kms_cmd[@]}"
check "KMS answer is a KmsResponse" 200 '<KmsInit' "${kms_cmd[@]}"
check "GMS group document" 200 '<list-service' "${gms_cmd[@]}"
check "GMS via absolute-form" 200 '<entry uri="sip:alice@mcx\.own\.example"/>' "${abs_cmd[@]}"
check "unknown host refused" 421 '' curl -sS --cacert "$ca" \
    --resolve "nowhere.mcx.own.example:$port:127.0.0.1" \
    "https://nowhere.mcx.own.example:$port/"
check "IdM server refused" 403 '' curl -sS --cacert "$ca" \
    --resolve "idms.mcx.own.example:$port:127.0.0.1" \
    "https://idms.mcx.own.example:$port/authorize"

# SIGTERM: the proxy stops accepting, drains and exits 0 (contract section 2).
kill -TERM "$proxy_pid"
rc=0
for ((n = 0; n < 500; n++)); do
	kill -0 "$proxy_pid" 2>/dev/null || break
	sleep 0.02
done
if kill -0 "$proxy_pid" 2>/dev/null; then
	say "FAILED: mcxproxy still running 10 s after SIGTERM"
	failed=1
else
	wait "$proxy_pid" || rc=$?
	if [[ $rc -eq 0 ]]; then
		say "ok: SIGTERM, exit status 0"
	else
		say "FAILED: exit status $rc after SIGTERM"
		failed=1
	fi
fi

if [[ $failed -ne 0 ]]; then
	say "check FAILED"
	exit 1
fi
say "check passed"
