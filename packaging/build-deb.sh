#!/bin/sh
# Builds the mcxproxy Debian package from the "make dist" tarball, so the
# package contains exactly what a release contains:
#
#   autoreconf -fi; configure and "make dist" in a scratch build folder;
#   unpack the tarball; copy packaging/debian in as debian/;
#   dpkg-buildpackage -us -uc -b (which also runs "make check").
#
# Usage: packaging/build-deb.sh [OUTDIR]
# The .deb files are moved to OUTDIR (default: the current folder) and the
# path of the mcxproxy .deb is printed last.  Extra dpkg-buildpackage
# options can be given in DPKG_BUILDPACKAGE_OPTS, e.g. "-j4"; set
# DEB_BUILD_OPTIONS=nocheck to skip the tests.  Set KEEP=1 to keep the
# scratch folder.
#
# Missing build dependencies (build-essential, dpkg-dev, and the
# Build-Depends of packaging/debian/control for the active build profiles,
# DEB_BUILD_PROFILES) are installed with apt-get when running as root or
# with password-less sudo, as scripts/deps.sh does for the rest of the
# project; otherwise, or with MCX_NO_INSTALL=1, the error names them.
set -eu

usage() {
	echo "usage: $0 [OUTDIR]" >&2
	exit 2
}

case "${1:-}" in
-h|--help) usage ;;
esac
[ $# -le 1 ] || usage

srcdir=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
outdir=$(mkdir -p -- "${1:-.}" && CDPATH='' cd -- "${1:-.}" && pwd)

installed() {
	dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}

# missing_build_deps: the packages the build lacks, one per line; of
# alternatives ("nginx-light | nginx"), the first; versions are left to
# apt-get and dpkg-checkbuilddeps (run again below).
missing_build_deps() {
	for p in build-essential dpkg-dev; do
		installed "$p" || echo "$p"
	done
	command -v dpkg-checkbuilddeps >/dev/null 2>&1 || return 0
	# DEB_BUILD_PROFILES (e.g. nocheck) is honoured by dpkg-checkbuilddeps.
	dpkg-checkbuilddeps "$srcdir/packaging/debian/control" 2>&1 |
	    sed -n 's/.*Unmet build dependencies: //p' |
	    sed 's/([^)]*)//g; s/ *| *[^ ]*//g; s/<[^>]*>//g' | tr ' ' '\n' |
	    sed '/^$/d; s/^debhelper-compat$/debhelper/'
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "$0: not a Debian system (no dpkg-query)" >&2
	exit 1
fi
missing=$(missing_build_deps | sort -u | tr '\n' ' ')
missing=${missing% }
if [ -n "$missing" ]; then
	sudo=
	if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 &&
	    sudo -n true 2>/dev/null; then
		sudo="sudo -n"
	fi
	if [ "${MCX_NO_INSTALL:-0}" = 1 ] ||
	    { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
		echo "$0: missing build dependencies: $missing" >&2
		echo "    install them as root: apt-get install --no-install-recommends $missing" >&2
		exit 1
	fi
	echo "==> installing build dependencies: $missing" >&2
	# $sudo and $missing are split into words on purpose.
	# shellcheck disable=SC2086
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
	    ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $missing >&2; then
		echo "$0: could not install the build dependencies: $missing" >&2
		exit 1
	fi
	# What apt-get could not satisfy (a version too old) stops here.
	missing=$(missing_build_deps | tr '\n' ' ')
	if [ -n "${missing% }" ]; then
		echo "$0: build dependencies still missing after apt-get: $missing" >&2
		dpkg-checkbuilddeps "$srcdir/packaging/debian/control" >&2 || true
		exit 1
	fi
fi
for tool in autoreconf make dpkg-buildpackage dpkg-parsechangelog; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "$0: $tool not found (apt-get install build-essential dpkg-dev debhelper autoconf automake)" >&2
		exit 1
	}
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mcxproxy-deb.XXXXXX")
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "scratch folder kept: $work" >&2
	else
		rm -rf -- "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if [ -f "$srcdir/config.status" ]; then
	echo "$0: $srcdir is configured in place; run \"make distclean\" there first" >&2
	echo "    (the tarball is made in a separate build folder)" >&2
	exit 1
fi

echo "==> make dist (from $srcdir)" >&2
(cd "$srcdir" && autoreconf -fi)
mkdir "$work/build"
(cd "$work/build" && "$srcdir/configure" --sysconfdir=/etc >&2 && make dist >&2)

set -- "$work"/build/mcxproxy-*.tar.gz
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	echo "$0: expected one mcxproxy-*.tar.gz from make dist, found: $*" >&2
	exit 1
fi
tarball=$1
base=$(basename "$tarball" .tar.gz)
version=${base#mcxproxy-}

debversion=$(dpkg-parsechangelog -l "$srcdir/packaging/debian/changelog" -S Version)
if [ "$debversion" != "$version" ]; then
	echo "$0: packaging/debian/changelog is at $debversion but the tarball is $version;" >&2
	echo "    add a changelog entry (dch -v $version) first" >&2
	exit 1
fi

echo "==> unpack $base.tar.gz and add debian/" >&2
tar -xzf "$tarball" -C "$work"
pkgdir="$work/$base"
rm -rf "$pkgdir/debian"
cp -R "$srcdir/packaging/debian" "$pkgdir/debian"

echo "==> dpkg-buildpackage" >&2
# DPKG_BUILDPACKAGE_OPTS is split into words on purpose.
# shellcheck disable=SC2086
(cd "$pkgdir" && dpkg-buildpackage -us -uc -b ${DPKG_BUILDPACKAGE_OPTS:-} >&2)

deb=
for f in "$work"/*.deb; do
	[ -f "$f" ] || continue
	mv -f -- "$f" "$outdir/"
	case "$(basename "$f")" in
	mcxproxy_*) deb="$outdir/$(basename "$f")" ;;
	esac
done
for f in "$work"/*.buildinfo "$work"/*.changes; do
	if [ -f "$f" ]; then
		mv -f -- "$f" "$outdir/"
	fi
done
if [ -z "$deb" ]; then
	echo "$0: dpkg-buildpackage produced no mcxproxy .deb" >&2
	exit 1
fi
echo "$deb"
