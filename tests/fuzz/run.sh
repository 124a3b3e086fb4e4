#!/bin/bash
# tests/fuzz/run.sh [SECONDS_EACH]: the libFuzzer harnesses, a short bounded
# run of each (the "fuzz" stage of tests/run-all.sh).
#
#   1. build/fuzz: CC=clang configure --enable-fuzzing (once), then make the
#      harnesses (ASan + UBSan, everything coverage-instrumented)
#   2. each of fuzz_request, fuzz_response, fuzz_config, fuzz_psk, fuzz_h2,
#      fuzz_proxyproto runs for
#      SECONDS_EACH seconds (default 30) on a copy of its seed corpus
#      (tests/fuzz/corpus/NAME; the seeds are never written to), with
#      -timeout=5 -rss_limit_mb=2048, and tests/fuzz/http.dict for the two
#      HTTP ones.  fuzz_config runs with -detect_leaks=0 (libconfig 1.5
#      leaks on many syntax errors, and every such input would cost a full
#      leak scan) and then once over the corpus it grew with leak checks on.
#
# Output: one line per fuzzer, "PASS: fuzz_NAME: execs=... exec/s=... cov=...
# ft=... corpus=SEEDS->N crashes=0" (FAIL with the log tail and the saved
# inputs when it found something), then an automake-style summary (# TOTAL,
# # PASS, # FAIL) that run-all.sh counts.  Exit 0 when every fuzzer passed.
# What a run found stays in build/fuzz/work/NAME: the log, crash-* (or
# leak-, timeout-, oom-) inputs and the grown corpus.  A finding is fixed in
# src/ with a unit test, and its input joins tests/fuzz/corpus/NAME.
# Environment: MAKE_JOBS (2), CC (clang).
set -uo pipefail

secs=${1:-30}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SECONDS_EACH]" >&2
	exit 2
fi
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
b=$top/build/fuzz
work=$b/work
jobs=${MAKE_JOBS:-2}
fuzzers=(request response config psk h2 proxyproto)
npass=0
nfail=0

summary() {
	echo "# TOTAL: $((npass + nfail))"
	echo "# PASS: $npass"
	echo "# FAIL: $nfail"
	echo "fuzz: $npass passed, $nfail failed"
}

build() {
	if [[ -f $top/config.status ]]; then
		echo "fuzz: the source tree is configured in place: make distclean there first"
		return 1
	fi
	# A seed make dist would leave out.
	local f missing=0
	while IFS= read -r f; do
		grep -qxF "	${f#"$top/"} \\" "$top/Makefile.am" ||
		    grep -qxF "	${f#"$top/"}" "$top/Makefile.am" || {
			echo "fuzz: ${f#"$top/"} is not in FUZZ_CORPUS (Makefile.am)"
			missing=1
		}
	done < <(find "$top/tests/fuzz/corpus" -type f | sort)
	[[ $missing -eq 0 ]] || return 1
	[[ -x $top/configure ]] || (cd "$top" && autoreconf -fi) || return 1
	mkdir -p "$b"
	if [[ ! -f $b/Makefile ]] || ! grep -q -- '--enable-fuzzing' "$b/config.status"; then
		(cd "$b" && CC=${CC:-clang} ../../configure --enable-fuzzing) \
		    >"$b/configure-fuzz.log" 2>&1 || {
			tail -n 20 "$b/configure-fuzz.log"
			return 1
		}
	fi
	make -C "$b" -j"$jobs" "${fuzzers[@]/#/tests/fuzz/fuzz_}"
}

# final_stat NAME LOG: libFuzzer's final figure for NAME (-print_final_stats).
final_stat() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

# run NAME: one fuzzer; prints its PASS/FAIL line.
run() {
	local name=$1 bin=$b/tests/fuzz/fuzz_$1 dir=$work/$1 rc=0 seeds line
	local -a opts=(-max_total_time="$secs" -timeout=5 -rss_limit_mb=2048
	    -print_final_stats=1 -artifact_prefix="$dir/")
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -R "$top/tests/fuzz/corpus/$name" "$dir/corpus"
	seeds=$(find "$dir/corpus" -type f | wc -l)
	case $name in
	request | response) opts+=(-dict="$top/tests/fuzz/http.dict") ;;
	config) opts+=(-detect_leaks=0) ;;
	esac
	(cd "$dir" && "$bin" "${opts[@]}" corpus) >"$dir/log" 2>&1 || rc=$?
	if [[ $rc -eq 0 && $name == config ]]; then
		# Leak checks over everything the run kept.
		(cd "$dir" && "$bin" -runs=0 -timeout=5 -rss_limit_mb=2048 \
		    -artifact_prefix="$dir/" corpus) >"$dir/leaks.log" 2>&1 || rc=$?
		[[ $rc -eq 0 ]] || cat "$dir/leaks.log" >>"$dir/log"
	fi
	# The last status line: "#N DONE cov: C ft: F corp: K/SIZE ...".
	line=$(grep -E '^#[0-9]+' "$dir/log" | tail -n 1)
	local found
	found=$(find "$dir" -maxdepth 1 -type f \
	    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	printf '%s: fuzz_%s: execs=%s exec/s=%s cov=%s ft=%s corpus=%s->%s crashes=%s\n' \
	    "$([[ $rc -eq 0 && $found -eq 0 ]] && echo PASS || echo FAIL)" "$name" \
	    "$(final_stat number_of_executed_units "$dir/log")" \
	    "$(final_stat average_exec_per_sec "$dir/log")" \
	    "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")" \
	    "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")" \
	    "$seeds" "$(find "$dir/corpus" -type f | wc -l)" "$found"
	if [[ $rc -ne 0 || $found -ne 0 ]]; then
		echo "---- fuzz_$name (exit $rc): the end of $dir/log ----"
		grep -v -E '^#[0-9]+|^"|# Uses:' "$dir/log" | tail -n 40
		find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
		    -o -name 'timeout-*' -o -name 'oom-*' \) -printf 'saved input: %p\n'
		return 1
	fi
}

if ! build; then
	echo "FAIL: fuzz: build (seeds in Makefile.am; CC=clang configure --enable-fuzzing; make)"
	nfail=1
	summary
	exit 1
fi
for f in "${fuzzers[@]}"; do
	if run "$f"; then
		npass=$((npass + 1))
	else
		nfail=$((nfail + 1))
	fi
done
summary
[[ $nfail -eq 0 ]]
