#!/bin/sh
# The Quick start demo (demo/run.sh) against the tree just built: two
# origins, the proxy, and its curl lines checked end to end.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$MCXPROXY" ] || error "no mcxproxy binary at $MCXPROXY"
command -v bash >/dev/null || skip "bash is not installed"

PROXY_PORT=$(free_port)
out=$TMP/demo.log
rc=0
MCX_DEMO_NO_BUILD=1 MCX_DEMO_PORT=$PROXY_PORT MCXPROXY=$MCXPROXY \
    bash "$top_srcdir/demo/run.sh" --check >"$out" 2>&1 </dev/null || rc=$?
expect_eq "$rc" 0 "demo/run.sh --check exit status"
expect_file_match "$out" '^demo: check passed' "demo summary line"
