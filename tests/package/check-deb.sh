#!/bin/bash
# tests/package/check-deb.sh: the Debian package as CI checks it (issue 4;
# the "package" stage of tests/run-all.sh).
#
#   1. build the .deb from the "make dist" tarball with packaging/build-deb.sh,
#      without "make check" (run-all.sh has just run the suite three times)
#   2. lintian on it: any E: fails; warnings and notes are printed
#   3. dpkg -i (missing Depends from apt first); the files of the contract
#      (section 5) are there with their owners and modes; the system user
#   4. the installed binary: -V says the package version; -t on the shipped
#      /etc/mcxproxy/mcxproxy.conf, which names certificate files only the
#      operator can supply, so throwaway ones (tests/tools/mkcerts.sh) are
#      put where it expects them; then a proxy on loopback started as root
#      with user = "mcxproxy" (tests/package/installed.sh)
#   5. systemd-analyze verify mcxproxy.service and mcxproxy@demo.service
#      (it works offline: systemd need not be PID 1), and the exposure score
#      of systemd-analyze security --offline, printed only
#   6. the socket units: each triggers the service of its name, which the
#      package has; mcxproxy.socket listens on the listener addresses of the
#      shipped mcxproxy.conf; systemd-analyze verify mcxproxy.socket and
#      mcxproxy@demo.socket with the drop-in the template's comment tells
#      operators to write
#   7. dpkg --purge, and nothing of it left behind
#
# It changes the machine (a package, a system user, files in /etc), so it
# needs root, and refuses to run where mcxproxy is installed or its folders
# exist.  What it adds is removed on exit, also after a failure or a signal.
# Without root, or on such a machine: a failure when CI=true, else a skip.
#
# Output: "PASS: / FAIL: / SKIP: check" lines, then an automake-style
# summary (# TOTAL, # PASS, # SKIP, # FAIL) that run-all.sh counts.  Exit 0
# when nothing failed, 77 when skipped, else 1.  Environment: MAKE_JOBS (2),
# KEEP=1 keeps the scratch folder (the .deb, build log, test PKI).
# The checks are called through check() and the trap, which shellcheck
# takes for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jobs=${MAKE_JOBS:-2}
pkg=mcxproxy
npass=0
nfail=0
nskip=0

note() { printf '# check-deb: %s\n' "$*"; }

summary() {
	echo "# TOTAL: $((npass + nfail + nskip))"
	echo "# PASS: $npass"
	echo "# SKIP: $nskip"
	echo "# FAIL: $nfail"
	echo "check-deb: $npass passed, $nfail failed, $nskip skipped"
}

# ---- preconditions -------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
	if [[ ${CI:-} == true ]]; then
		echo "FAIL: root: CI must run tests/package/check-deb.sh as root (it installs the package)"
		nfail=1
		summary
		exit 1
	fi
	echo "SKIP: package checks: not root (dpkg -i, a system user, files in /etc)"
	exit 77
fi

# refuse REASON: the machine is not one this check may change (it would
# purge an operator's package or delete their files): a failure on CI,
# which starts clean, else a skip.
refuse() {
	if [[ ${CI:-} == true ]]; then
		echo "FAIL: preconditions: $*"
		nfail=1
		summary
		exit 1
	fi
	echo "SKIP: package checks: $* (they install and purge $pkg; run them where it is not installed)"
	exit 77
}
state=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
case $state in
"" | un*) ;;
*) refuse "package $pkg is on this machine (dpkg: $state)" ;;
esac
for d in /etc/mcxproxy /var/log/mcxproxy /etc/systemd/system/mcxproxy@demo.socket.d; do
	[[ ! -e $d ]] || refuse "$d exists"
done
# Purging keeps the user (files elsewhere may belong to it): remove it at
# the end only if this check made it.
user_existed=no
group_existed=no
getent passwd "$pkg" >/dev/null && user_existed=yes
getent group "$pkg" >/dev/null && group_existed=yes

# shellcheck source-path=SCRIPTDIR/../.. source=scripts/deps.sh
. "$top/scripts/deps.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/mcx-check-deb.XXXXXX")
deb=
changes=
unitdir=
child=
# The drop-in mcxproxy@.socket's comment tells operators to write
# ("systemctl edit mcxproxy@<domain>.socket"), for the demo instance.
dropin=/etc/systemd/system/mcxproxy@demo.socket.d/override.conf
touched=no   # dpkg -i was attempted: purge on exit
cleaned=no

# ---- cleanup (a check of its own, and the EXIT trap) -------------------------------

# our_proxies: PIDs running the installed binary.  The package was not on
# the machine before, so each one was started by this check.
our_proxies() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case $exe in
		/usr/sbin/mcxproxy | "/usr/sbin/mcxproxy (deleted)") echo "${p#/proc/}" ;;
		esac
	done
}

# uninstall: stops what is left, removes the test files, purges the package,
# removes the user if it was made here.  False when something was left
# behind (it is removed anyway) or the purge failed.
uninstall() {
	local ok=0 p left st
	cleaned=yes
	if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
		# installed.sh stops its proxy and origin on TERM (lib.sh).
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	child=
	for p in $(our_proxies); do
		echo "check-deb: pid $p still runs /usr/sbin/mcxproxy: killed"
		kill -KILL "$p" 2>/dev/null || true
		ok=1
	done
	# Test files first: dpkg keeps a folder that is not empty.  All of
	# /etc/mcxproxy/tls is ours: /etc/mcxproxy did not exist before.
	rm -rf /etc/mcxproxy/demo.conf "$dropin"
	rmdir "$(dirname "$dropin")" 2>/dev/null || true
	if [[ -d /etc/mcxproxy/tls ]]; then
		find /etc/mcxproxy/tls -mindepth 1 -maxdepth 1 -exec rm -rf {} +
	fi
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	if [[ $touched == yes || ( -n $st && $st != un* ) ]]; then
		note "dpkg --purge $pkg"
		if ! dpkg --purge "$pkg"; then
			echo "check-deb: dpkg --purge $pkg failed"
			ok=1
		fi
	fi
	if [[ $user_existed == no ]] && getent passwd "$pkg" >/dev/null; then
		userdel "$pkg" || ok=1
	fi
	if [[ $group_existed == no ]] && getent group "$pkg" >/dev/null; then
		groupdel "$pkg" || ok=1
	fi
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	if [[ -n $st && $st != un* ]]; then
		echo "check-deb: dpkg still knows $pkg after the purge: $st"
		ok=1
	fi
	# None of these existed before (see the preconditions).
	left=$(ls -d /etc/mcxproxy /var/log/mcxproxy /etc/logrotate.d/mcxproxy \
	    /usr/sbin/mcxproxy /lib/systemd/system/mcxproxy*.service \
	    /usr/lib/systemd/system/mcxproxy*.service \
	    /etc/systemd/system/*/mcxproxy*.service \
	    /lib/systemd/system/mcxproxy*.socket \
	    /usr/lib/systemd/system/mcxproxy*.socket \
	    /etc/systemd/system/*/mcxproxy*.socket \
	    /etc/systemd/system/mcxproxy@demo.socket.d \
	    /var/lib/systemd/deb-systemd-helper-enabled/mcxproxy* \
	    /var/lib/systemd/deb-systemd-helper-enabled/*/mcxproxy* \
	    /var/lib/systemd/deb-systemd-helper-masked/mcxproxy* 2>/dev/null || true)
	if [[ -n $left ]]; then
		echo "check-deb: left behind after the purge (now removed):"
		printf '%s\n' "$left" | sed 's/^/  /'
		# shellcheck disable=SC2086 # one path per word
		rm -rf $left
		ok=1
	fi
	return "$ok"
}

on_exit() {
	local rc=$?
	set +e
	if [[ $cleaned == no ]]; then
		note "cleaning up after an early exit"
		uninstall || rc=1
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "check-deb: scratch folder kept: $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# check NAME FUNCTION [ARGS...]: runs one check; FUNCTION returns 0 (pass),
# 77 (skip, having said why) or anything else (fail).  Returns its status.
check() {
	local name=$1 rc=0 t0=$SECONDS
	shift
	note "---- $name"
	"$@" || rc=$?
	case $rc in
	0) echo "PASS: $name ($((SECONDS - t0)) s)"; npass=$((npass + 1)) ;;
	77) echo "SKIP: $name"; nskip=$((nskip + 1)) ;;
	*) echo "FAIL: $name ($((SECONDS - t0)) s)"; nfail=$((nfail + 1)) ;;
	esac
	return "$rc"
}

# finish: the package checks end here, purge included.
finish() {
	if [[ $touched == yes ]]; then
		check "dpkg --purge $pkg leaves nothing behind" uninstall || true
	fi
	summary
	if [[ $nfail -eq 0 ]]; then
		exit 0
	fi
	exit 1
}

# ---- 1. build ------------------------------------------------------------------------
deps() {
	deps_ensure package
}

build_deb() {
	local out arch f
	# nocheck twice: the option skips dh_auto_test, the profile drops the
	# <!nocheck> Build-Depends (nginx, testssl.sh...) from the build check.
	out=$(DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck parallel=$jobs" \
	    DEB_BUILD_PROFILES="nocheck" \
	    "$top/packaging/build-deb.sh" "$work/out" 2>"$work/build.log") || {
		echo "---- build log (last 60 lines; all of it: KEEP=1, $work/build.log)"
		tail -n 60 "$work/build.log"
		return 1
	}
	deb=$(printf '%s\n' "$out" | tail -n 1)
	[[ -f $deb ]] || { echo "build-deb.sh printed no .deb path: $out"; return 1; }
	arch=$(dpkg --print-architecture)
	for f in "$work"/out/"${pkg}"_*_"$arch".changes; do
		[[ -f $f ]] && changes=$f
	done
	note "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"
	dpkg-deb -I "$deb" | sed -n 's/^ \(Version\|Depends\|Built-Using\):/  \1:/p'
}

# ---- 2. lintian ----------------------------------------------------------------------------
run_lintian() {
	local target=${changes:-$deb} out rc=0 e w
	# The .changes also brings the -dbgsym package and the .buildinfo.
	# Warnings are printed, not fatal; the overrides (with their reasons)
	# are in packaging/debian/mcxproxy.lintian-overrides.
	out=$(lintian --display-info --pedantic --fail-on error "$target" 2>&1) || rc=$?
	# lintian says so on stderr as root; this is our own package.
	out=$(printf '%s\n' "$out" | grep -v '^running with root privileges is not recommended!$' || true)
	e=$(printf '%s\n' "$out" | grep -c '^E: ' || true)
	w=$(printf '%s\n' "$out" | grep -c '^W: ' || true)
	note "lintian $(lintian --version | awk '{ print $2 }') on $(basename "$target"): exit $rc, $e errors, $w warnings"
	[[ -z $out ]] || printf '%s\n' "$out"
	[[ $rc -eq 0 && $e -eq 0 ]]
}

# ---- 3. install ------------------------------------------------------------------------------
# missing_depends: packages to install for the .deb's Depends (one per
# clause not satisfied by an installed alternative; versions are left to
# dpkg, which says so if one is too old).
missing_depends() {
	local clause alt name ok alts
	dpkg-deb -f "$deb" Depends | tr ',' '\n' | while read -r clause; do
		[[ -n $clause ]] || continue
		ok=no
		IFS='|' read -ra alts <<<"$clause"
		for alt in "${alts[@]}"; do
			name=$(printf '%s' "$alt" | sed 's/(.*)//; s/:any//; s/[[:space:]]//g')
			if deps_installed "$name"; then
				ok=yes
				break
			fi
		done
		[[ $ok == yes ]] || printf '%s\n' "$(printf '%s' "${alts[0]}" | sed 's/(.*)//; s/:any//; s/[[:space:]]//g')"
	done
}

apt_install() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 \
	    -y -q --no-install-recommends "$@"
}

install_deb() {
	local missing st
	missing=$(missing_depends | tr '\n' ' ')
	if [[ -n ${missing// /} ]]; then
		note "Depends not installed: $missing"
		# shellcheck disable=SC2086 # one package per word
		apt_install update >/dev/null && apt_install install $missing || return 1
	fi
	touched=yes
	note "dpkg -i $(basename "$deb")"
	if ! dpkg -i "$deb"; then
		note "dpkg -i failed; apt-get -f install for what it lacks"
		apt_install -f install || return 1
	fi
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg")
	[[ $st == ii* ]] || { echo "dpkg status of $pkg: $st"; return 1; }
	unitdir=$(dirname "$(dpkg -L "$pkg" | grep '/systemd/system/mcxproxy\.service$' | head -n 1)")
}

# expect_path TEST PATH: test(1) TEST holds for PATH.
expect_path() {
	if test "$1" "$2"; then
		echo "  ok  $2"
	else
		echo "  MISSING ($1) $2"
		return 1
	fi
}

# expect_stat PATH "USER:GROUP MODE"
expect_stat() {
	local got
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null) || { echo "  MISSING $1"; return 1; }
	if [[ $got == "$2" ]]; then
		echo "  ok  $1 ($got)"
	else
		echo "  WRONG $1: $got, want $2"
		return 1
	fi
}

# expect_man PATH: a manual page, unless dpkg is told not to install manuals
# here (Docker's slim images); then the package must at least contain it.
expect_man() {
	if [[ -f $1 ]]; then
		echo "  ok  $1"
	elif grep -qs '^path-exclude[= ]*/usr/share/man' /etc/dpkg/dpkg.cfg.d/* &&
	    dpkg-deb -c "$deb" | grep -q " \.$1\$"; then
		echo "  ok  $1 (in the package; dpkg path-exclude skips manuals here)"
	else
		echo "  MISSING $1"
		return 1
	fi
}

check_files() {
	local ok=0 conffiles f
	expect_path -x /usr/sbin/mcxproxy || ok=1
	expect_path -f /etc/mcxproxy/mcxproxy.conf || ok=1
	expect_stat /etc/mcxproxy/tls "root:mcxproxy 750" || ok=1
	expect_stat /var/log/mcxproxy "mcxproxy:adm 750" || ok=1
	expect_path -f /etc/logrotate.d/mcxproxy || ok=1
	expect_path -f "$unitdir/mcxproxy.service" || ok=1
	expect_path -f "$unitdir/mcxproxy@.service" || ok=1
	expect_path -f "$unitdir/mcxproxy.socket" || ok=1
	expect_path -f "$unitdir/mcxproxy@.socket" || ok=1
	expect_man /usr/share/man/man8/mcxproxy.8.gz || ok=1
	expect_man /usr/share/man/man5/mcxproxy.conf.5.gz || ok=1
	# Conffiles: an operator's edits survive upgrades.
	conffiles=$(dpkg-query -W -f='${Conffiles}\n' "$pkg")
	for f in /etc/mcxproxy/mcxproxy.conf /etc/logrotate.d/mcxproxy; do
		if printf '%s\n' "$conffiles" | grep -q "^ $f "; then
			echo "  ok  $f is a conffile"
		else
			echo "  NOT A CONFFILE $f"
			ok=1
		fi
	done
	# The package starts nothing and enables nothing (a socket unit whose
	# addresses are not the configuration's would fail the start).
	if ls /etc/systemd/system/*/mcxproxy*.service \
	    /etc/systemd/system/*/mcxproxy*.socket >/dev/null 2>&1; then
		echo "  ENABLED by the installation: $(ls /etc/systemd/system/*/mcxproxy*.service \
		    /etc/systemd/system/*/mcxproxy*.socket 2>/dev/null)"
		ok=1
	else
		echo "  ok  no unit enabled"
	fi
	if command -v logrotate >/dev/null; then
		# -d: parse and show what it would do, touching nothing.
		if logrotate -d -s "$work/logrotate.state" /etc/logrotate.d/mcxproxy \
		    >"$work/logrotate.out" 2>&1 && ! grep -qi 'error' "$work/logrotate.out"; then
			echo "  ok  logrotate -d /etc/logrotate.d/mcxproxy"
		else
			cat "$work/logrotate.out"
			ok=1
		fi
	fi
	return "$ok"
}

check_user() {
	local pw name uid gid home shell group sysmax
	pw=$(getent passwd "$pkg") || { echo "  no user $pkg"; return 1; }
	IFS=: read -r name _ uid gid _ home shell <<<"$pw"
	group=$(getent group "$gid" | cut -d: -f1)
	sysmax=$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs 2>/dev/null)
	echo "  $pw (group $group)"
	[[ $name == "$pkg" && $group == "$pkg" ]] || { echo "  primary group is $group"; return 1; }
	[[ $uid -lt ${sysmax:-1000} ]] || { echo "  uid $uid is not a system uid"; return 1; }
	[[ $home == /nonexistent && $shell == */nologin ]] ||
	    { echo "  home $home, shell $shell: want /nonexistent and nologin"; return 1; }
}

# ---- 4. the installed binary ----------------------------------------------------------------
check_version() {
	local out want
	want=$(dpkg-query -W -f='${Version}' "$pkg")
	want=${want#*:}    # epoch
	want=${want%-*}    # Debian revision (none: native)
	out=$(/usr/sbin/mcxproxy -V 2>&1) || { echo "  -V failed: $out"; return 1; }
	echo "  $out"
	[[ $out == "mcxproxy $want" || $out == "mcxproxy $want "* ]] ||
	    { echo "  want \"mcxproxy $want\""; return 1; }
}

# test_file_for PATH: the test PKI file for a file the shipped configuration
# names (by its role in the name).
test_file_for() {
	case $(basename "$1") in
	proxy.pem) echo proxy-chain.pem ;;   # the chain, leaf first, as UEs see it
	proxy.key) echo proxy.key ;;
	proxy-client.pem) echo own-proxy.pem ;; # toward partners: serverAuth+clientAuth
	proxy-client.key) echo own-proxy.key ;;
	*-ca.pem) echo ca.pem ;;
	*.psk) echo ue.psk ;;
	*) return 1 ;;
	esac
}

check_shipped() {
	local conf=/etc/mcxproxy/mcxproxy.conf out rc=0 other files f src
	# As installed, the file names certificates and keys that only the
	# operator can supply: -t must report those, and nothing else.
	out=$(/usr/sbin/mcxproxy -t -c "$conf" 2>&1) || rc=$?
	files=$(sed 's/#.*//' "$conf" | grep -o '"/etc/mcxproxy/tls/[^"]*"' | tr -d '"' | sort -u)
	echo "  as installed: -t exit $rc; it names $(echo "$files" | wc -w) files in /etc/mcxproxy/tls"
	if [[ $rc -ne 0 ]]; then
		other=$(printf '%s\n' "$out" | grep -v -E "^$conf:[0-9]+: cannot read .*: No such file or directory$" || true)
		[[ -z $other ]] || { echo "  errors besides missing files:"; echo "$other"; return 1; }
	fi
	# What an operator does: the domain's files where the file expects
	# them (throwaway ones here), keys readable by the group mcxproxy only.
	sh "$top/tests/tools/mkcerts.sh" "$work/pki" || return 1
	for f in $files; do
		src=$(test_file_for "$f") || { echo "  no test file for $f"; return 1; }
		case $f in
		*.key | *.psk) install -m 0640 -o root -g mcxproxy "$work/pki/$src" "$f" ;;
		*) install -m 0644 "$work/pki/$src" "$f" ;;
		esac || return 1
	done
	# Without -c: the compiled-in default is the shipped file.
	rc=0
	out=$(/usr/sbin/mcxproxy -t 2>&1) || rc=$?
	echo "  mcxproxy -t (as root, default file): exit $rc: $out"
	[[ $rc -eq 0 && $out == "configuration OK" ]] || return 1
	# What the units' ExecStartPre runs.
	rc=0
	out=$(runuser -u mcxproxy -- /usr/sbin/mcxproxy -t -c "$conf" 2>&1) || rc=$?
	echo "  mcxproxy -t -c $conf as user mcxproxy: exit $rc: $out"
	[[ $rc -eq 0 && $out == "configuration OK" ]] || return 1
	# shellcheck disable=SC2086 # one path per word
	rm -f $files
}

run_installed() {
	local rc=0
	# In the background and waited for, so that a TERM to this script is
	# handled at once and passed on by uninstall().  Its folder (kept by
	# lib.sh when it fails, after dumping its logs) goes with ours.
	TMPDIR=$work sh "$top/tests/package/installed.sh" &
	child=$!
	wait "$child" || rc=$?
	child=
	return "$rc"
}

# ---- 5. systemd ------------------------------------------------------------------------------
# analyze ARGS...: systemd-analyze, its output indented; sets OUT.
analyze() {
	local rc=0
	OUT=$(systemd-analyze "$@" 2>&1) || rc=$?
	echo "  \$ systemd-analyze $* -> exit $rc"
	[[ -z $OUT ]] || printf '%s\n' "$OUT" | sed 's/^/    /'
	return "$rc"
}

verify_units() {
	local ok=0 man=() reason
	if ! command -v systemd-analyze >/dev/null; then
		echo "  systemd-analyze is not installed (package systemd): not verified"
		return 77
	fi
	# The template instance of the check; installed.sh leaves it.
	if [[ ! -f /etc/mcxproxy/demo.conf ]]; then
		cp /etc/mcxproxy/mcxproxy.conf /etc/mcxproxy/demo.conf
	fi
	# Documentation=man:... is looked up with man(1), where there is one
	# and dpkg installs manuals (check_files has checked the pages).
	if ! command -v man >/dev/null || [[ ! -f /usr/share/man/man8/mcxproxy.8.gz ]]; then
		man=(--man=no)
	fi
	echo "  PID 1 is $(ps -o comm= -p 1); systemd $(systemd-analyze --version | awk 'NR == 1 { print $2 }')"
	analyze verify "${man[@]}" "$unitdir/mcxproxy.service" || ok=1
	[[ -z $OUT ]] || ok=1
	reason=$OUT
	analyze verify "${man[@]}" mcxproxy@demo.service || ok=1
	[[ -z $OUT ]] || ok=1
	reason="$reason$OUT"
	# Only a machine that cannot run it at all is a skip, not a unit error.
	if [[ $ok -ne 0 ]] && grep -q -E 'Failed to (connect to bus|initialize manager)|System has not been booted with systemd' <<<"$reason"; then
		echo "  systemd-analyze cannot run here (see above): not verified"
		return 77
	fi
	return "$ok"
}

# ---- 6. socket activation ---------------------------------------------------------
# listen_streams UNIT-FILE...: the ListenStream= values, one per line, as
# systemd reads them (a later empty one resets the list).
listen_streams() {
	cat "$@" | awk -F= '$1 == "ListenStream" {
		if ($2 == "") { n = 0 } else { v[n++] = $2 } }
		END { for (i = 0; i < n; i++) print v[i] }'
}

# conf_listeners FILE: the listener addresses of a configuration file, as a
# socket unit spells them ("*:443" is "[::]:443"); not the admin address.
conf_listeners() {
	sed 's/#.*//' "$1" | grep -v '^[[:space:]]*admin[[:space:]]*=' |
	    sed -n 's/.*address[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' |
	    sed 's/^\*:/[::]:/'
}

check_sockets() {
	local ok=0 u svc want got
	for u in mcxproxy.socket mcxproxy@.socket; do
		# Service= would name another unit; without it systemd starts
		# the service of the socket's own name.
		svc=$(sed -n 's/^Service=//p' "$unitdir/$u" | tail -n 1)
		[[ -n $svc ]] || svc=${u%.socket}.service
		if [[ $svc == "${u%.socket}.service" && -f $unitdir/$svc ]]; then
			echo "  ok  $u triggers $svc, which the package has"
		else
			echo "  $u triggers $svc, not ${u%.socket}.service of the package"
			ok=1
		fi
		if grep -q '^BindIPv6Only=both$' "$unitdir/$u"; then
			echo "  ok  $u: BindIPv6Only=both (\"[::]\" listeners take IPv4 too)"
		else
			echo "  $u: no BindIPv6Only=both: the proxy refuses an IPv6-only \"[::]\" socket"
			ok=1
		fi
	done
	if [[ -n $(listen_streams "$unitdir/mcxproxy@.socket") ]]; then
		echo "  mcxproxy@.socket has ListenStream= lines: every instance would get them"
		ok=1
	fi
	want=$(conf_listeners /etc/mcxproxy/mcxproxy.conf | sort)
	got=$(listen_streams "$unitdir/mcxproxy.socket" | sort)
	if [[ -n $want && $want == "$got" ]]; then
		echo "  ok  mcxproxy.socket listens on the listeners of mcxproxy.conf:" "${got//$'\n'/ }"
	else
		echo "  mcxproxy.socket listens on:" "${got//$'\n'/ }"
		echo "  mcxproxy.conf's listeners are:" "${want//$'\n'/ }"
		ok=1
	fi
	return "$ok"
}

verify_sockets() {
	local ok=0 man=() reason
	if ! command -v systemd-analyze >/dev/null; then
		echo "  systemd-analyze is not installed (package systemd): not verified"
		return 77
	fi
	if ! command -v man >/dev/null || [[ ! -f /usr/share/man/man8/mcxproxy.8.gz ]]; then
		man=(--man=no)
	fi
	[[ -f /etc/mcxproxy/demo.conf ]] || cp /etc/mcxproxy/mcxproxy.conf /etc/mcxproxy/demo.conf
	# What an operator writes with "systemctl edit mcxproxy@demo.socket":
	# the instance's listener addresses.
	mkdir -p "$(dirname "$dropin")"
	{
		echo "[Socket]"
		conf_listeners /etc/mcxproxy/demo.conf | sed 's/^/ListenStream=/'
	} >"$dropin"
	sed 's/^/    /' "$dropin"
	analyze verify "${man[@]}" "$unitdir/mcxproxy.socket" || ok=1
	[[ -z $OUT ]] || ok=1
	reason=$OUT
	analyze verify "${man[@]}" mcxproxy@demo.socket || ok=1
	[[ -z $OUT ]] || ok=1
	reason="$reason$OUT"
	if [[ $ok -ne 0 ]] && grep -q -E 'Failed to (connect to bus|initialize manager)|System has not been booted with systemd' <<<"$reason"; then
		echo "  systemd-analyze cannot run here (see above): not verified"
		return 77
	fi
	return "$ok"
}

# security: the exposure score, for the log only (not a check).
security() {
	local u
	command -v systemd-analyze >/dev/null || return 0
	if ! systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
		note "systemd-analyze security: no --offline here; no exposure score"
		return 0
	fi
	for u in mcxproxy.service mcxproxy@demo.service; do
		OUT=$(systemd-analyze security --offline=true --no-pager "$u" 2>&1) || true
		note "systemd-analyze security --offline=true $u: $(printf '%s\n' "$OUT" | grep 'Overall exposure level' | sed 's/^→ //' || echo "no score: $OUT")"
	done
	# The settings it would still tighten, once (both units are alike).
	printf '%s\n' "$OUT" | grep '^✗' | sed 's/^/    /' || true
}

# ---- the run -------------------------------------------------------------------------
note "source $top; scratch $work"
check "dependencies (scripts/deps.sh: package)" deps || finish
check "build the .deb from make dist (packaging/build-deb.sh, nocheck)" build_deb || finish
check "lintian: no errors" run_lintian || true
check "dpkg -i $(basename "$deb")" install_deb || finish
check "installed files (contract section 5)" check_files || true
check "system user $pkg" check_user || true
check "mcxproxy -V is the package version" check_version || true
check "mcxproxy -t on the shipped /etc/mcxproxy/mcxproxy.conf with test certificates" check_shipped || true
check "installed mcxproxy serves on loopback, started as root, runs as mcxproxy" run_installed || true
check "systemd-analyze verify mcxproxy.service mcxproxy@demo.service" verify_units || true
check "socket units: names, BindIPv6Only, mcxproxy.socket = mcxproxy.conf's listeners" check_sockets || true
check "systemd-analyze verify mcxproxy.socket mcxproxy@demo.socket (with a drop-in)" verify_sockets || true
security
finish
