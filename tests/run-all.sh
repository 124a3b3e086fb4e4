#!/bin/bash
# tests/run-all.sh: everything CI runs (.ci/run), from a fresh Debian 12.
#
#   1. missing Debian packages (scripts/deps.sh, test set)
#   2. autoreconf -fi
#   3. build/werror: configure --enable-werror; make; make check
#   4. build/asan:   configure --enable-werror --enable-sanitizers; make check
#   5. build/werror: make distcheck (DISTCHECK_CONFIGURE_FLAGS=--enable-werror):
#      the tarball builds, installs and uninstalls cleanly, and its unit tests
#      and the integration tests of the distributed files (DISTCHECK_TESTS)
#      pass from it; the full integration suite already ran twice above on
#      the same sources.  Then every file git tracks (but bench/) must be in
#      the tarball, so no test or tool can be left out of EXTRA_DIST.
#   6. package: tests/package/check-deb.sh builds the .deb from the tarball,
#      runs lintian, installs it with dpkg -i, runs the installed binary,
#      checks the units with systemd-analyze verify, and purges it (root;
#      without root it fails when CI=true and is skipped otherwise)
#   7. fuzz: tests/fuzz/run.sh builds the libFuzzer harnesses in build/fuzz
#      (clang, ASan + UBSan) and runs each for FUZZ_SECONDS (20) on a copy
#      of its seed corpus
#
# Every stage runs even when an earlier one failed; the exit status is 0 only
# when all passed.  The last line is "N passed, N failed", summed over the
# automake test-suite summaries (# PASS, and # FAIL + # ERROR + # XPASS); a
# stage that fails outside its test suite (configure, build, dist) counts as
# one failure; the package stage adds its checks the same way (one per
# check), and the fuzz stage one per fuzzer.  Environment: MAKE_JOBS (2),
# FUZZ_SECONDS (20).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1
jobs=${MAKE_JOBS:-2}
logdir=$top/build/logs
passed=0
failed=0
status=0

say() { printf '\n=== run-all: %s\n' "$*"; }

# shellcheck source-path=SCRIPTDIR/.. source=scripts/deps.sh
. "$top/scripts/deps.sh"
say "dependencies"
deps_ensure test || { echo "run-all: missing packages" >&2; exit 1; }

if [[ -f $top/config.status ]]; then
	# VPATH builds refuse a source tree configured in place.
	say "the source tree is configured in place: make distclean there first"
	make -C "$top" distclean >/dev/null || exit 1
fi

say "autoreconf -fi"
autoreconf -fi || exit 1
mkdir -p "$logdir"

# count FILE: adds the "# PASS:/# FAIL:/..." lines of FILE's last test-suite
# summary to the totals; false when FILE holds no summary.
count() {
	local p f
	[[ -f $1 ]] || return 1
	grep -q '^# TOTAL:' "$1" || return 1
	read -r p f < <(awk '/^# TOTAL:/ { pass = fail = 0 }
		/^# PASS:/ { pass = $3 }
		/^# (FAIL|ERROR|XPASS):/ { fail += $3 }
		END { print pass + 0, fail + 0 }' "$1")
	passed=$((passed + p))
	failed=$((failed + f))
	echo "run-all: $(basename "$(dirname "$1")")/$(basename "$1"): $p passed, $f failed"
	[[ $f -eq 0 ]]
}

# show_failures FILE...: test-suite logs (they embed the failed tests' logs).
show_failures() {
	local f
	for f in "$@"; do
		[[ -f $f ]] || continue
		echo "---- $f ----"
		cat "$f"
	done
}

# stage NAME CONFIGURE-FLAGS...: configure, build and check in build/NAME.
stage() {
	local name=$1 b=$top/build/$1 rc=0
	shift
	say "$name: configure $*"
	mkdir -p "$b"
	rm -f "$b/test-suite.log"
	(cd "$b" && ../../configure "$@" >"$logdir/$name-configure.log" 2>&1) || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 40 "$logdir/$name-configure.log"
		echo "run-all: $name: configure failed (see config.log)"
		failed=$((failed + 1))
		status=1
		return
	fi
	say "$name: make"
	make -C "$b" -j"$jobs" || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "run-all: $name: build failed"
		failed=$((failed + 1))
		status=1
		return
	fi
	say "$name: make check"
	make -C "$b" -j"$jobs" check || rc=$?
	if ! count "$b/test-suite.log"; then
		[[ -f $b/test-suite.log ]] || failed=$((failed + 1))
		rc=1
	fi
	if [[ $rc -ne 0 ]]; then
		show_failures "$b/test-suite.log"
		echo "run-all: $name: make check failed"
		status=1
	fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

stage werror --enable-werror
stage asan --enable-werror --enable-sanitizers

say "distcheck"
rc=0
# The unit tests, plus the integration tests that exercise what make dist
# and make install carry: the demo, the examples, the command line, the
# include graph, TLS and HTTP basics.
distcheck_tests() {
	local t
	for t in "$top"/tests/unit/check_*.c; do
		t=${t#"$top"/}
		printf '%s ' "${t%.c}"
	done
	printf '%s ' tests/integration/00-demo.sh tests/integration/05-include-cycles.sh \
	    tests/integration/10-tls.sh tests/integration/20-http.sh \
	    tests/integration/70-cli.sh tests/integration/71-examples.sh
}
if [[ -f $top/build/werror/Makefile ]]; then
	make -C "$top/build/werror" -j"$jobs" distcheck \
	    DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
	    TESTS="${DISTCHECK_TESTS:-$(distcheck_tests)}" 2>&1 |
	    tee "$logdir/distcheck.log" || rc=$?
	# distcheck deletes its tree when it passes: count from its output.
	if ! count "$logdir/distcheck.log"; then
		grep -q '^# TOTAL:' "$logdir/distcheck.log" || failed=$((failed + 1))
		rc=1
	fi
	if [[ $rc -ne 0 ]]; then
		show_failures "$top"/build/werror/mcxproxy-*/_build/*/test-suite.log
		echo "run-all: distcheck failed"
		status=1
	fi
	say "dist: every tracked file is in the tarball"
	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		missing=$(comm -23 \
		    <(git -C "$top" ls-files | grep -v -E '^(bench/|\.gitignore$|m4/\.gitkeep$)' | sort) \
		    <(tar tzf "$(ls -t "$top"/build/werror/mcxproxy-*.tar.gz | head -n 1)" |
		    sed 's|^[^/]*/||' | sort))
		if [[ -n $missing ]]; then
			echo "run-all: not in the tarball (add them to EXTRA_DIST):"
			echo "$missing"
			failed=$((failed + 1))
			status=1
		else
			passed=$((passed + 1))
			echo "run-all: dist: complete"
		fi
	else
		echo "run-all: dist completeness not checked: not a git checkout"
	fi
else
	echo "run-all: distcheck skipped: build/werror was not configured"
	failed=$((failed + 1))
	status=1
fi

# tally LOG RC WHAT: a script that prints its own test-suite summary
# (package, fuzz): its checks go to the totals; it failed when one did,
# when it printed no summary, or when it exited non-zero past its checks
# (killed, cleanup), each of the last two counting one failure.
tally() {
	local log=$1 rc=$2 what=$3
	if ! count "$log"; then
		grep -q '^# TOTAL:' "$log" || failed=$((failed + 1))
		rc=1
	elif [[ $rc -ne 0 ]]; then
		failed=$((failed + 1))
	fi
	if [[ $rc -ne 0 ]]; then
		[[ $2 -ne 124 ]] || echo "run-all: $what timed out"
		echo "run-all: $what failed"
		status=1
	fi
}

say "package: build, lintian, dpkg -i, run, systemd-analyze, purge"
rc=0
# Bounded: about a minute on 2 cores; timeout signals the whole process
# group, and check-deb.sh purges the package on TERM.
timeout --kill-after=60 1200 bash "$top/tests/package/check-deb.sh" 2>&1 |
    tee "$logdir/package.log" || rc=$?
if [[ $rc -eq 77 ]]; then
	echo "run-all: package checks skipped (reason above)"
else
	tally "$logdir/package.log" "$rc" "package checks"
fi

fuzz_secs=${FUZZ_SECONDS:-20}
say "fuzz: tests/fuzz/run.sh $fuzz_secs (each fuzzer, libFuzzer with ASan + UBSan)"
rc=0
# Bounded: the build and six runs of $fuzz_secs seconds take about two
# minutes on 2 cores; each run stops itself (-max_total_time, -timeout).
timeout --kill-after=30 900 bash "$top/tests/fuzz/run.sh" "$fuzz_secs" 2>&1 |
    tee "$logdir/fuzz.log" || rc=$?
tally "$logdir/fuzz.log" "$rc" "fuzz stage (its inputs and logs: build/fuzz/work)"

say "summary"
echo "$passed passed, $failed failed"
exit "$status"
