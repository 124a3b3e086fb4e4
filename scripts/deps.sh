# shellcheck shell=bash
# scripts/deps.sh: Debian packages mcxproxy needs, installed only when missing.
# Sourced by demo/run.sh and tests/run-all.sh:
#
#   . scripts/deps.sh
#   deps_ensure build        # compile and run the demo
#   deps_ensure test         # + what the integration tests use (nginx)
#                            #   and the fuzzers (clang, libFuzzer)
#   deps_ensure bench        # + load tools (haproxy, wrk)
#   deps_ensure package      # build + what tests/package/check-deb.sh uses
#                            #   (debhelper, lintian, systemd-analyze, ps)
#
# Installing needs root (or password-less sudo); otherwise the apt-get
# command is printed and deps_ensure returns 1.  A package written "a|b" is
# satisfied by either and installs as "a".

DEPS_BUILD="build-essential autoconf automake pkgconf|pkg-config libevent-dev
libssl-dev libconfig-dev libsystemd-dev libnghttp2-dev check node-llhttp curl openssl
python3"
# slowhttptest: 58-slow-clients; haproxy: 95-differential; clang and
# libclang-rt-14-dev: the libFuzzer harnesses (tests/fuzz); nghttp2-server
# (nghttpd), nghttp2-client (nghttp, h2load) and python3-h2: the HTTP/2 tests.
DEPS_TEST="nginx|nginx-light gnutls-bin testssl.sh slowhttptest haproxy
clang libclang-rt-14-dev nghttp2-server nghttp2-client python3-h2"
DEPS_BENCH="haproxy wrk nghttp2-client"
# systemd is only there for systemd-analyze (verify, security): nothing is
# booted with it.  procps: ps.
DEPS_PACKAGE="debhelper lintian systemd procps"

# deps_installed PKG: true when dpkg knows PKG as installed.
deps_installed() {
	local st
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
	case $st in
	ii*) return 0 ;;
	*) return 1 ;;
	esac
}

# deps_missing SET: prints the packages of SET (build|test|bench|package) to
# install.
deps_missing() {
	local want alt a ok
	want=$DEPS_BUILD
	case $1 in
	build) ;;
	test) want="$want $DEPS_TEST" ;;
	bench) want="$want $DEPS_TEST $DEPS_BENCH" ;;
	package) want="$want $DEPS_PACKAGE" ;;
	*) echo "deps_missing: unknown set '$1'" >&2; return 2 ;;
	esac
	for alt in $want; do
		ok=no
		for a in ${alt//|/ }; do
			if deps_installed "$a"; then
				ok=yes
				break
			fi
		done
		[ "$ok" = yes ] || printf '%s\n' "${alt%%|*}"
	done
}

# deps_ensure SET: installs what SET lacks; returns 0 when nothing is missing.
deps_ensure() {
	local missing sudo=""
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: not a Debian system; install the equivalents of:" \
		    "$DEPS_BUILD" >&2
		return 0
	fi
	missing=$(deps_missing "$1" | tr '\n' ' ') || return 2
	missing=${missing% }
	[ -n "$missing" ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo="sudo -n"
		else
			echo "deps: missing packages: $missing" >&2
			echo "deps: run as root: apt-get update &&" \
			    "apt-get install -y --no-install-recommends $missing" >&2
			return 1
		fi
	fi
	echo "deps: installing $missing" >&2
	# shellcheck disable=SC2086 # word splitting of $sudo and $missing is wanted
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
	    $sudo env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $missing >&2
}
