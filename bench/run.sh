#!/usr/bin/env bash
# bench/run.sh - mcxproxy next to HAProxy and nginx as TLS-terminating proxies (clients on
# HTTP/1.1, and on HTTP/2 in get_h2), one core each, against the same origin.  One command, run
# as root on Debian 12:
#
#   bench/run.sh                                   # defaults: 3 reps x 10 s per load step, 5000 idle conns
#   REPS=1 DURATION=5 IDLE_CONNS=2000 bench/run.sh # quicker
#   FRONTENDS="mcxproxy haproxy" SCENARIOS="get_ka resume idle" bench/run.sh
#   MCXPROXY=/path/to/mcxproxy bench/run.sh        # benchmark that binary (else ./mcxproxy, else build)
#   FRONTENDS="mcxproxy mcxproxy-h2up haproxy nginx" SCENARIOS="get_ka get_h2" bench/run.sh
#                                                  # + mcxproxy with an HTTP/2 (h2c) upstream
#
# Layout: the frontend under test is pinned to CPU $FE_CPU (1); the origin (nginx, 1 worker,
# plain HTTP keep-alive) and the load generators (wrk -t1, lib/tlsload, h2load, lib/tlsclient.py)
# share CPU $LG_CPU (0).  The load scenarios run REPS times, the frontends in the same order in
# each repetition; the table shows medians.  Everything listens on 127.0.0.1 on free ports.
# Results: bench/out/<stamp>/ (results.tsv, summary.txt, preflight.tsv, versions.txt, raw/ tool
# output, run/ configs and logs).  Exit status 0 only when no frontend had errors (and nothing
# else failed).  See bench/README.md for what is measured and how to read it.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 1
ROOT=$(dirname "$BENCH_DIR")

# ---- knobs ------------------------------------------------------------------------------------
REPS=${REPS:-3}                     # repetitions of the load scenarios (the table shows medians)
DURATION=${DURATION:-10}            # seconds per load step
CONNS=${CONNS:-50}                  # connections (wrk, tlsload, h2load --h1 of latency)
H2_CONNS=${H2_CONNS:-100}           # get_h2: HTTP/2 client connections (h2load -c)
H2_STREAMS=${H2_STREAMS:-10}        # get_h2: concurrent streams on each (h2load -m)
LAT_RATE=${LAT_RATE:-2000}          # latency scenario: fixed total req/s over the CONNS connections
IDLE_CONNS=${IDLE_CONNS:-5000}      # idle TLS connections for the memory scenario
IDLE_CONC=${IDLE_CONC:-100}         # handshakes in flight while opening them
POST_BYTES=${POST_BYTES:-16384}     # POST request body (the origin answers 16 KiB regardless)
WARMUP=${WARMUP:-2}                 # seconds of unrecorded keep-alive GET after each start
FRONTENDS=${FRONTENDS:-"mcxproxy haproxy nginx"}
SCENARIOS=${SCENARIOS:-"get_ka post_ka get_h2 close resume latency idle"}
FE_CPU=${FE_CPU:-1}                 # frontend core
LG_CPU=${LG_CPU:-0}                 # origin + load generator core
QUIET_MAX=${QUIET_MAX:-10}          # before a load step: wait until both cores are <= this % busy
QUIET_WAIT=${QUIET_WAIT:-30}        #   ... for at most this many seconds, then measure anyway
OTHER_MAX=${OTHER_MAX:-10}          # foreign busy % (frontend core, or half of it on the load core)
RETRIES=${RETRIES:-2}               #   ... above which a load step is measured again, at most this often
INSTALL=${INSTALL:-1}               # 0: never run apt-get, refuse when something is missing
MCXPROXY=${MCXPROXY:-}              # mcxproxy binary; default ./mcxproxy of the tree, else build
BUILD_DIR=${BUILD_DIR:-$BENCH_DIR/build}
# TLS: the same suites and groups for every frontend (mcxproxy's built-in lists, ECDSA subset),
# server preference on, so all of them negotiate the same cipher (checked in the preflight).
TLS12_CIPHERS=${TLS12_CIPHERS:-ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305}
TLS13_SUITES=${TLS13_SUITES:-TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256}
TLS_GROUPS=${TLS_GROUPS:-X25519:P-256:P-384}
STAMP=${STAMP:-$(date +%Y%m%d-%H%M%S)}
OUT=${OUT:-$BENCH_DIR/out/$STAMP}

KNOWN_FRONTENDS="mcxproxy mcxproxy-h2up haproxy nginx"
KNOWN_SCENARIOS="get_ka post_ka get_h2 close resume latency idle"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# ---- sanity of the request --------------------------------------------------------------------
[[ $(uname -s) == Linux ]] || die "Linux only"
for v in REPS LAT_RATE DURATION CONNS H2_CONNS H2_STREAMS IDLE_CONNS IDLE_CONC POST_BYTES WARMUP FE_CPU LG_CPU QUIET_MAX QUIET_WAIT OTHER_MAX RETRIES; do
    is_uint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
((DURATION >= 1 && DURATION <= 600)) || die "DURATION must be 1..600 s"
((CONNS >= 1 && CONNS <= 5000)) || die "CONNS must be 1..5000"
((REPS >= 1 && REPS <= 50)) || die "REPS must be 1..50"
((H2_CONNS >= 1 && H2_CONNS <= 5000)) || die "H2_CONNS must be 1..5000"
# 100: the lowest stream limit of the frontends (mcxproxy's limits.h2 and HAProxy's default)
((H2_STREAMS >= 1 && H2_STREAMS <= 100)) || die "H2_STREAMS must be 1..100"
((LAT_RATE >= CONNS)) || die "LAT_RATE ($LAT_RATE) must be >= CONNS ($CONNS): h2load's rate is per connection"
((IDLE_CONNS >= 1 && IDLE_CONC >= 1)) || die "IDLE_CONNS and IDLE_CONC must be >= 1"
((FE_CPU != LG_CPU)) || die "FE_CPU and LG_CPU must differ"
for c in "$FE_CPU" "$LG_CPU"; do
    grep -q "^cpu$c " /proc/stat || die "CPU $c is not online (this needs 2 cores: FE_CPU=$FE_CPU LG_CPU=$LG_CPU)"
done
# mcxproxy sends GOAWAY after 10000 streams on a client connection, which h2load in its timed
# mode neither retries nor reconnects after: a long get_h2 step shows errors (README, Caveats)
if [[ " $SCENARIOS " == *" get_h2 "* ]] && ((DURATION > 20)); then
    log "WARNING: get_h2 with DURATION=$DURATION > 20 s: a connection may pass mcxproxy's 10000 streams and get GOAWAY (errors)"
fi
read -r -a FE_LIST <<<"$FRONTENDS"
read -r -a SCN_LIST <<<"$SCENARIOS"
((${#FE_LIST[@]} > 0)) || die "FRONTENDS is empty"
((${#SCN_LIST[@]} > 0)) || die "SCENARIOS is empty"
for f in "${FE_LIST[@]}"; do [[ " $KNOWN_FRONTENDS " == *" $f "* ]] || die "unknown frontend '$f' (known: $KNOWN_FRONTENDS)"; done
for s in "${SCN_LIST[@]}"; do [[ " $KNOWN_SCENARIOS " == *" $s "* ]] || die "unknown scenario '$s' (known: $KNOWN_SCENARIOS)"; done
want_fe() { [[ " $FRONTENDS " == *" $1 "* ]]; }
want_scn() { [[ " $SCENARIOS " == *" $1 "* ]]; }
want_mcx() { want_fe mcxproxy || want_fe mcxproxy-h2up; }   # the mcxproxy binary is needed

# open files: the frontend holds IDLE_CONNS client sockets (+ origin ones), so does the client
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
# get_h2 with an HTTP/1.1 upstream: up to H2_CONNS * H2_STREAMS origin connections
NEED_FILES=$((IDLE_CONNS + CONNS + 1000))
((H2_CONNS * (H2_STREAMS + 1) + 1000 > NEED_FILES)) && NEED_FILES=$((H2_CONNS * (H2_STREAMS + 1) + 1000))
[[ $NOFILE == unlimited ]] || ((NOFILE >= NEED_FILES)) ||
    die "open-files limit $NOFILE is too low for IDLE_CONNS=$IDLE_CONNS, H2_CONNS=$H2_CONNS x H2_STREAMS=$H2_STREAMS (need >= $NEED_FILES)"

# ---- processes: we only ever signal PIDs this script started ----------------------------------
ORIGIN_PID="" FE_PID="" TOOL_PID="" POLICY_RC_CREATED=""

tree_pids() { # PID -> PID and its descendants
    local all queue=("$1") p c pp
    all=$(ps -e -o pid=,ppid=) || return 0
    while ((${#queue[@]})); do
        p=${queue[0]}; queue=("${queue[@]:1}")
        [[ -d /proc/$p ]] || continue
        echo "$p"
        while read -r c pp; do [[ $pp == "$p" ]] && queue+=("$c"); done <<<"$all"
    done
}

stop_pid() { # PID: SIGTERM, wait up to 5 s, then SIGKILL what is left of its tree
    local pid=$1 tree p i
    [[ -n $pid ]] || return 0
    tree=$(tree_pids "$pid")
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for p in $tree; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    stop_pid "$TOOL_PID"; TOOL_PID=""   # timeout(1) passes SIGTERM on to the tool
    stop_pid "$FE_PID"; FE_PID=""
    stop_pid "$ORIGIN_PID"; ORIGIN_PID=""
    [[ -n $POLICY_RC_CREATED ]] && rm -f /usr/sbin/policy-rc.d
    return 0
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# run a bounded tool in the background and wait for it, so that a signal reaches our trap at once
run_tool() { # LOGFILE TIMEOUT CMD... -> exit status of CMD
    local of=$1 tmo=$2 rc; shift 2
    timeout -k 5 "$tmo" taskset -c "$LG_CPU" "$@" >"$of" 2>&1 &
    TOOL_PID=$!
    wait "$TOOL_PID"; rc=$?
    TOOL_PID=""
    return "$rc"
}

# ---- packages ---------------------------------------------------------------------------------
pkg_installed() { [[ $(dpkg-query -W -f '${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

apt_install() { # PKG...
    ((EUID == 0)) || die "missing packages: $* - run as root, or install them first"
    ((INSTALL == 1)) || die "missing packages: $* (INSTALL=0: not installing)"
    command -v apt-get >/dev/null 2>&1 || die "missing packages: $* and no apt-get here"
    # keep package scripts from starting the distro services (nginx, haproxy) on port 80 etc.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
            POLICY_RC_CREATED=1
    fi
    log "installing: $*"
    timeout 600 apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y -qq --no-install-recommends "$@" ||
        die "apt-get install $* failed"
    if [[ -n $POLICY_RC_CREATED ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=""; fi
}

ensure_tools() {
    local missing=() t
    # tool:package
    for t in nginx:nginx wrk:wrk openssl:openssl python3:python3 curl:curl ss:iproute2 \
        taskset:util-linux ps:procps timeout:coreutils; do
        command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
    done
    if want_fe haproxy; then command -v haproxy >/dev/null 2>&1 || missing+=(haproxy); fi
    if want_scn latency || want_scn get_h2; then command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client); fi
    if want_scn close || want_scn resume; then   # lib/tlsload.c is compiled here
        command -v gcc >/dev/null 2>&1 || missing+=(gcc)
        pkg_installed libssl-dev || missing+=(libssl-dev)
    fi
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
    for t in nginx wrk openssl python3 curl ss taskset ps timeout; do
        command -v "$t" >/dev/null 2>&1 || die "still missing after install: $t"
    done
    if want_fe haproxy; then command -v haproxy >/dev/null 2>&1 || die "still missing after install: haproxy"; fi
    if want_scn latency || want_scn get_h2; then command -v h2load >/dev/null 2>&1 || die "still missing after install: h2load"; fi
    python3 -c 'import ssl, asyncio' 2>/dev/null || die "python3 lacks the ssl/asyncio modules"
}

# ---- mcxproxy binary --------------------------------------------------------------------------
build_mcxproxy() { # sets MCX_BIN
    local blog=$OUT/build.log need=() p
    [[ -f $ROOT/configure.ac ]] || die "no MCXPROXY given, no $ROOT/mcxproxy and no source tree at $ROOT to build"
    if command -v dpkg-query >/dev/null 2>&1; then
        for p in gcc make autoconf automake pkg-config libevent-dev libssl-dev libconfig-dev libnghttp2-dev libsystemd-dev check node-llhttp; do
            pkg_installed "$p" || need+=("$p")
        done
        ((${#need[@]} == 0)) || apt_install "${need[@]}"
    fi
    if [[ -f $ROOT/config.status ]]; then
        # configured in the source tree: a separate build folder is refused by automake
        log "building mcxproxy in the source tree (it is configured in-tree), log: $blog"
        timeout 1200 make -C "$ROOT" -j"$(nproc)" mcxproxy >"$blog" 2>&1 ||
            { tail -n 20 "$blog" >&2; die "build failed (see $blog)"; }
        MCX_BIN=$ROOT/mcxproxy
        return
    fi
    log "building mcxproxy in $BUILD_DIR (CFLAGS=-O2 -g), log: $blog"
    if [[ ! -x $ROOT/configure ]]; then
        (cd "$ROOT" && timeout 600 autoreconf -fi) >"$blog" 2>&1 ||
            { tail -n 20 "$blog" >&2; die "autoreconf failed (see $blog)"; }
    fi
    mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
    if [[ ! -f $BUILD_DIR/config.status ]]; then
        (cd "$BUILD_DIR" && timeout 600 "$ROOT/configure" CFLAGS="-O2 -g") >>"$blog" 2>&1 ||
            { tail -n 20 "$blog" >&2; die "configure failed (see $blog)"; }
    fi
    timeout 1200 make -C "$BUILD_DIR" -j"$(nproc)" mcxproxy >>"$blog" 2>&1 ||
        { tail -n 20 "$blog" >&2; die "build failed (see $blog; or pass MCXPROXY=/path/to/mcxproxy)"; }
    MCX_BIN=$BUILD_DIR/mcxproxy
}

resolve_mcxproxy() {
    if [[ -n $MCXPROXY ]]; then
        [[ -x $MCXPROXY && -f $MCXPROXY ]] || die "MCXPROXY=$MCXPROXY is not an executable file"
        MCX_BIN=$(realpath "$MCXPROXY")
    elif [[ -x $ROOT/mcxproxy && -f $ROOT/mcxproxy ]]; then
        MCX_BIN=$ROOT/mcxproxy
    else
        build_mcxproxy
    fi
    [[ -x $MCX_BIN ]] || die "no mcxproxy binary at $MCX_BIN"
    "$MCX_BIN" -V >/dev/null 2>&1 || die "$MCX_BIN -V failed: not a working mcxproxy"
}

# lib/tlsload.c -> $BUILD_DIR/tlsload (compiled again when the source is newer)
build_tlsload() { # sets TLSLOAD
    local src=$BENCH_DIR/lib/tlsload.c
    TLSLOAD=$BUILD_DIR/tlsload
    [[ -x $TLSLOAD && ! $src -nt $TLSLOAD ]] && return 0
    mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
    log "compiling $src -> $TLSLOAD"
    timeout 120 gcc -O2 -Wall -o "$TLSLOAD.tmp" "$src" -lssl -lcrypto >"$OUT/tlsload-build.log" 2>&1 &&
        mv -f "$TLSLOAD.tmp" "$TLSLOAD" || { cat "$OUT/tlsload-build.log" >&2; die "cannot compile $src"; }
}

# ---- ports ------------------------------------------------------------------------------------
USED_PORTS=" "
pick_port() { # -> a port nobody uses, outside the ephemeral range
    local lo hi base span p i
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    if ((lo > 12000)); then base=10000 span=$((lo - 10000)); else base=$((hi + 1)) span=$((65535 - hi)); fi
    ((span > 100)) || die "no room for ports outside the ephemeral range $lo-$hi"
    for ((i = 0; i < 500; i++)); do
        p=$((base + (RANDOM * 32768 + RANDOM) % span))
        [[ $USED_PORTS == *" $p "* ]] && continue
        [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]] || continue
        USED_PORTS+="$p "
        echo "$p"; return 0
    done
    die "found no free port"
}

# the listener on PORT must belong to the process tree of PID (nobody else answered our checks)
owns_port() { # PID PORT
    local pids owners
    pids=" $(tree_pids "$1" | tr '\n' ' ') "
    owners=$(ss -Hltnp "( sport = :$2 )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
    [[ -n $owners ]] || return 1
    for p in $owners; do [[ $pids == *" $p "* ]] || return 1; done
    return 0
}

port_closed() { [[ -z $(ss -Hltn "( sport = :$1 )" 2>/dev/null) ]]; }

# ---- CPU and memory accounting ----------------------------------------------------------------
HZ=$(getconf CLK_TCK)
cpu_ticks() { # PID... -> utime+stime ticks summed (all threads of each process)
    local s=0 p f a
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        read -r -a a <<<"$f"
        s=$((s + a[11] + a[12]))
    done
    echo "$s"
}
rss_kib() { # PID... -> VmRSS summed, KiB
    local s=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)
        s=$((s + ${v:-0}))
    done
    echo "$s"
}
core_jiffies() { # CPU -> "busy total"
    awk -v c="cpu$1" '$1==c {b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6}' /proc/stat
}
busy_pct() { # "busy0 total0" "busy1 total1" -> integer %
    awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; if (d<1) d=1; printf "%.0f", 100*(y[1]-x[1])/d}'
}

QUIET=1
wait_quiet() { # up to QUIET_WAIT s until both cores are <= QUIET_MAX % busy over one second
    local i f0 l0 f1 l1 pf pl
    for ((i = 0; i <= QUIET_WAIT; i++)); do
        f0=$(core_jiffies "$FE_CPU"); l0=$(core_jiffies "$LG_CPU"); sleep 1
        f1=$(core_jiffies "$FE_CPU"); l1=$(core_jiffies "$LG_CPU")
        pf=$(busy_pct "$f0" "$f1"); pl=$(busy_pct "$l0" "$l1")
        if ((pf <= QUIET_MAX && pl <= QUIET_MAX)); then QUIET=1; return 0; fi
        ((i == 0)) && log "  waiting for the machine to be quiet (CPU$FE_CPU ${pf}%, CPU$LG_CPU ${pl}% busy)"
    done
    log "  WARNING: machine not quiet after ${QUIET_WAIT}s (CPU$FE_CPU ${pf}%, CPU$LG_CPU ${pl}%), measuring anyway"
    QUIET=0
}

# ---- certificate and configurations -----------------------------------------------------------
make_cert() {
    mkdir -p "$RUN/tls" || die "cannot create $RUN/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" -days 30 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$RUN/tls/openssl.log" 2>&1 ||
        die "certificate generation failed (see $RUN/tls/openssl.log)"
    cat "$RUN/tls/cert.pem" "$RUN/tls/key.pem" >"$RUN/tls/both.pem" || die "cannot write $RUN/tls/both.pem"
    chmod 600 "$RUN/tls/key.pem" "$RUN/tls/both.pem"
    CERT=$RUN/tls/cert.pem KEY=$RUN/tls/key.pem PEM=$RUN/tls/both.pem
}

write_origin_conf() {
    local doc=$RUN/origin-root
    mkdir -p "$doc" "$RUN/origin-tmp" || die "cannot create $doc"
    head -c 1024 /dev/zero | tr '\0' 'a' >"$doc/get1k"
    head -c 16384 /dev/zero | tr '\0' 'b' >"$doc/post16k"
    # GET /      -> 200, the 1 KiB file.
    # POST /echo -> the request body is read first (mirror_request_body makes nginx read it in
    #               the precontent phase; the mirror subrequest itself returns 204 in-process),
    #               then the static module refuses POST with 405, and error_page turns that into
    #               200 with the 16 KiB file.  Stock nginx modules only (no echo module).
    # With mcxproxy-h2up a second listener of the same server block speaks HTTP/2 with prior
    # knowledge (h2c, no TLS): the same files and locations on both.
    local h2listen=""
    [[ -n ${ORIGIN_H2_PORT:-} ]] && h2listen="listen 127.0.0.1:$ORIGIN_H2_PORT http2 backlog=4096;"
    cat >"$RUN/origin.conf" <<EOF
# origin for bench/run.sh: nginx, one worker, plain HTTP/1.1 keep-alive on loopback (and h2c)
user root;
worker_processes 1;
pid $RUN/origin.pid;
error_log $RUN/origin-error.log error;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_header_timeout 300s;
    client_body_timeout 300s;
    client_body_buffer_size 64k;
    client_max_body_size 1m;
    client_body_temp_path $RUN/origin-tmp/body;
    proxy_temp_path $RUN/origin-tmp/proxy;
    fastcgi_temp_path $RUN/origin-tmp/fastcgi;
    uwsgi_temp_path $RUN/origin-tmp/uwsgi;
    scgi_temp_path $RUN/origin-tmp/scgi;
    open_file_cache max=16 inactive=1h;
    open_file_cache_valid 1h;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        $h2listen
        root $doc;
        location = / { try_files /get1k =404; }
        location = /echo {
            mirror /_sink;
            mirror_request_body on;
            try_files /post16k =404;
            error_page 405 =200 /_post16k;
        }
        location = /_sink { internal; return 204; }
        location = /_post16k { internal; try_files /post16k =404; }
    }
}
EOF
}

write_fe_conf() { # FE -> sets FE_CONF
    local fe=$1
    case $fe in
    mcxproxy | mcxproxy-h2up)
        # mcxproxy-h2up: the same, but HTTP/2 (h2c, prior knowledge) to the origin's h2 listener
        local up_port=$ORIGIN_PORT up_proto=""
        if [[ $fe == mcxproxy-h2up ]]; then up_port=$ORIGIN_H2_PORT up_proto='protocol = "h2"; '; fi
        FE_CONF=$RUN/$fe.conf
        cat >"$FE_CONF" <<EOF
# $fe under bench/run.sh: one worker, logging off, TLS listener (ALPN h2 and http/1.1),
# pooled origin over $([[ -n $up_proto ]] && echo "HTTP/2 (h2c)" || echo "HTTP/1.1").
domain = "bench.example";
workers = 1;
log = { level = "warn"; access = "off"; };
timeouts = { tls_handshake = 300.0; request_header = 300.0; client_idle = 300.0; drain = 2.0; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$FE_PORT"; alpn = ["h2", "http/1.1"];
    tls = { certificate = "$CERT"; key = "$KEY"; client_auth = "none"; }; }
);
servers = (
  { name = "origin"; hosts = ["127.0.0.1", "localhost"]; $up_proto
    targets = ["127.0.0.1:$up_port"];
    pool = { max_idle = 512; max_connections = 1024; }; }
);
EOF
        ;;
    haproxy)
        FE_CONF=$RUN/haproxy.cfg
        cat >"$FE_CONF" <<EOF
# HAProxy under bench/run.sh: one thread, no logging, TLS frontend, pooled origin.
global
    nbthread 1
    maxconn 9000
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers $TLS12_CIPHERS
    ssl-default-bind-ciphersuites $TLS13_SUITES
    ssl-default-bind-curves $TLS_GROUPS

defaults
    mode http
    maxconn 9000
    option http-keep-alive
    # 'always': the first request of a new client connection may reuse an idle origin
    # connection, as nginx's upstream keepalive and mcxproxy's pool do ('safe' would not).
    http-reuse always
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 300s
    timeout http-keep-alive 300s

frontend fe
    bind 127.0.0.1:$FE_PORT ssl crt $PEM alpn h2,http/1.1 backlog 4096
    default_backend origin

backend origin
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
        ;;
    nginx)
        FE_CONF=$RUN/nginx-fe.conf
        mkdir -p "$RUN/nginx-fe-tmp" || die "cannot create $RUN/nginx-fe-tmp"
        cat >"$FE_CONF" <<EOF
# nginx under bench/run.sh: one worker, logging off, TLS server, upstream keep-alive pool.
user root;
worker_processes 1;
pid $RUN/nginx-fe.pid;
error_log $RUN/nginx-fe-error.log error;
events { worker_connections 18000; }
http {
    access_log off;
    server_tokens off;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    client_header_timeout 300s;
    client_body_timeout 300s;
    client_body_buffer_size 64k;
    client_max_body_size 1m;
    client_body_temp_path $RUN/nginx-fe-tmp/body;
    proxy_temp_path $RUN/nginx-fe-tmp/proxy;
    fastcgi_temp_path $RUN/nginx-fe-tmp/fastcgi;
    uwsgi_temp_path $RUN/nginx-fe-tmp/uwsgi;
    scgi_temp_path $RUN/nginx-fe-tmp/scgi;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers $TLS12_CIPHERS;
    ssl_conf_command Ciphersuites $TLS13_SUITES;
    ssl_ecdh_curve $TLS_GROUPS;
    ssl_prefer_server_ciphers on;
    ssl_session_cache shared:SSL:20m;
    ssl_session_timeout 1h;
    ssl_session_tickets on;

    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 512;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$FE_PORT ssl http2 backlog=4096;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 16 16k;
        }
    }
}
EOF
        ;;
    esac
}

fe_command() { # FE -> FE_CMD array
    case $1 in
    mcxproxy | mcxproxy-h2up) FE_CMD=("$MCX_BIN" -c "$FE_CONF") ;;
    haproxy) FE_CMD=(haproxy -db -f "$FE_CONF") ;;
    nginx) FE_CMD=(nginx -p "$RUN/" -c "$FE_CONF" -g 'daemon off;') ;;
    esac
}

check_conf() { # FE: syntax check before starting
    local fe=$1 of=$RUN/$1.check.log
    case $fe in
    mcxproxy | mcxproxy-h2up) timeout 20 "$MCX_BIN" -t -c "$FE_CONF" >"$of" 2>&1 ;;
    haproxy) timeout 20 haproxy -c -f "$FE_CONF" >"$of" 2>&1 ;;
    nginx) timeout 20 nginx -t -p "$RUN/" -c "$FE_CONF" -g 'daemon off;' >"$of" 2>&1 ;;
    esac || { cat "$of" >&2; die "$fe rejects its configuration $FE_CONF"; }
}

# ---- origin and frontends ---------------------------------------------------------------------
http_code() { # URL -> status code (000 when nothing answered)
    curl -sk -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null
}

start_origin() {
    ORIGIN_PORT=$(pick_port) || exit 1
    ORIGIN_H2_PORT=""
    if want_fe mcxproxy-h2up; then ORIGIN_H2_PORT=$(pick_port) || exit 1; fi
    write_origin_conf
    timeout 20 nginx -t -p "$RUN/" -c "$RUN/origin.conf" -g 'daemon off;' >"$RUN/origin.check.log" 2>&1 ||
        { cat "$RUN/origin.check.log" >&2; die "origin nginx rejects $RUN/origin.conf"; }
    (cd "$RUN" && exec taskset -c "$LG_CPU" nginx -p "$RUN/" -c "$RUN/origin.conf" -g 'daemon off;') \
        >"$RUN/origin.out" 2>&1 &
    ORIGIN_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$ORIGIN_PID" 2>/dev/null || { cat "$RUN/origin.out" >&2; die "origin nginx exited during start"; }
        [[ $(http_code "http://127.0.0.1:$ORIGIN_PORT/") == 200 ]] && break
        sleep 0.1
    done
    ((i < 100)) || die "origin did not answer on 127.0.0.1:$ORIGIN_PORT"
    owns_port "$ORIGIN_PID" "$ORIGIN_PORT" || die "port $ORIGIN_PORT is served by another process"
    pin_tree "$ORIGIN_PID" "$LG_CPU"
    mapfile -t ORIGIN_PIDS < <(tree_pids "$ORIGIN_PID")
    local get post
    get=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}/%{size_download}' "http://127.0.0.1:$ORIGIN_PORT/")
    post=$(head -c "$POST_BYTES" /dev/zero | curl -s -o /dev/null --max-time 5 -w '%{http_code}/%{size_download}' \
        -H 'Content-Type: application/octet-stream' --data-binary @- "http://127.0.0.1:$ORIGIN_PORT/echo")
    [[ $get == 200/1024 && $post == 200/16384 ]] || die "origin answers GET $get, POST $post (want 200/1024, 200/16384)"
    log "origin: nginx pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT, CPU $LG_CPU (GET $get, POST $post)"
    # the reference answers for the preflight's comparison
    [[ $(fetch_pair origin 1 "http://127.0.0.1:$ORIGIN_PORT" --http1.1) == "1.1:200/1024,1.1:200/16384" ]] ||
        die "origin: cannot fetch its reference answers"
    if [[ -n $ORIGIN_H2_PORT ]]; then   # the h2c listener: HTTP/2 with prior knowledge, same answers
        owns_port "$ORIGIN_PID" "$ORIGIN_H2_PORT" || die "port $ORIGIN_H2_PORT is served by another process"
        get=$(curl -s --http2-prior-knowledge -o /dev/null --max-time 5 -w '%{http_version}:%{http_code}/%{size_download}' \
            "http://127.0.0.1:$ORIGIN_H2_PORT/")
        post=$(head -c "$POST_BYTES" /dev/zero | curl -s --http2-prior-knowledge -o /dev/null --max-time 5 \
            -w '%{http_version}:%{http_code}/%{size_download}' -H 'Content-Type: application/octet-stream' \
            --data-binary @- "http://127.0.0.1:$ORIGIN_H2_PORT/echo")
        [[ $get == 2:200/1024 && $post == 2:200/16384 ]] ||
            die "origin's h2c listener answers GET $get, POST $post (want 2:200/1024, 2:200/16384: HTTP/2)"
        fetch_pair origin 2 "http://127.0.0.1:$ORIGIN_H2_PORT" --http2-prior-knowledge >/dev/null
        cmp -s "$RUN/preflight/origin.get.h2.body" "$RUN/preflight/origin.get.h1.body" &&
            cmp -s "$RUN/preflight/origin.post.h2.body" "$RUN/preflight/origin.post.h1.body" ||
            die "origin: its h2c listener answers other bodies than its HTTP/1.1 one"
        log "origin: h2c (HTTP/2, prior knowledge) on 127.0.0.1:$ORIGIN_H2_PORT (GET $get, POST $post)"
    fi
}

pin_tree() { # PID CPU: every thread of PID's tree on CPU
    local p
    for p in $(tree_pids "$1"); do taskset -a -p -c "$2" "$p" >/dev/null 2>&1; done
}
affinity() { # PID -> "pid:cpus ..."
    local p
    for p in $(tree_pids "$1"); do printf '%s:%s ' "$p" "$(awk '/^Cpus_allowed_list/{print $2}' "/proc/$p/status" 2>/dev/null)"; done
}

fe_start() { # FE
    local fe=$1 i
    port_closed "$FE_PORT" || die "port $FE_PORT is taken before starting $fe"
    write_fe_conf "$fe"
    check_conf "$fe"
    fe_command "$fe"
    FE_LOG=$RUN/$fe.out
    (cd "$RUN" && exec taskset -c "$FE_CPU" "${FE_CMD[@]}") >>"$FE_LOG" 2>&1 &
    FE_PID=$!
    for ((i = 0; i < 150; i++)); do
        kill -0 "$FE_PID" 2>/dev/null || { tail -n 20 "$FE_LOG" >&2; die "$fe exited during start (log: $FE_LOG)"; }
        [[ $(http_code "https://127.0.0.1:$FE_PORT/") == 200 ]] && break
        sleep 0.1
    done
    ((i < 150)) || { tail -n 20 "$FE_LOG" >&2; die "$fe did not answer 200 on https://127.0.0.1:$FE_PORT/ within 15 s"; }
    owns_port "$FE_PID" "$FE_PORT" || die "port $FE_PORT is served by another process than $fe"
    pin_tree "$FE_PID" "$FE_CPU"
    mapfile -t FE_PIDS < <(tree_pids "$FE_PID")
}

fe_stop() {
    local i
    stop_pid "$FE_PID"; FE_PID=""
    for ((i = 0; i < 100; i++)); do port_closed "$FE_PORT" && return 0; sleep 0.1; done
    die "port $FE_PORT still listening after stopping the frontend"
}

fe_alive() { [[ -n $FE_PID ]] && kill -0 "$FE_PID" 2>/dev/null; }

fe_warmup() {
    ((WARMUP > 0)) || return 0
    run_tool "$RAW/$1.warmup.txt" $((WARMUP + 20)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" "https://127.0.0.1:$FE_PORT/"
}

# ---- results ----------------------------------------------------------------------------------
TSV_COLS="frontend scenario rep attempt quiet disturbed requests duration_s rps p50_ms p90_ms p99_ms max_ms resumed_pct sock_errors non2xx err_detail tool_ok fe_cpu_s cpu_us_per_req fe_cpu_pct fe_core_busy_pct load_core_busy_pct origin_cpu_pct tool_cpu_pct other_fe_pct other_load_pct rss_before_kib rss_after_kib kib_per_conn_handshake kib_per_conn_request rss_after_close_kib idle_failures fe_alive"
tsv_row() { # key=value... -> one line in results.tsv, columns in TSV_COLS order ("-" when absent)
    local -A row=()
    local kv c line=""
    for kv in "$@"; do row[${kv%%=*}]=${kv#*=}; done
    for c in $TSV_COLS; do line+="${row[$c]:--}"$'\t'; done
    printf '%s\n' "${line%$'\t'}" >>"$RESULTS"
}

# GET / and POST /echo with curl over HTTP/VER (1.1 or 2) to BASE: head and body kept in
# $RUN/preflight/NAME.{get,post}.hVER.{head,body}; prints "ver:status/bytes,ver:status/bytes"
fetch_pair() { # NAME VER BASE [curl options...]
    local name=$1 ver=$2 base=$3 d=$RUN/preflight g p
    shift 3
    mkdir -p "$d" || die "cannot create $d"
    g=$(curl -s --max-time 10 "$@" -D "$d/$name.get.h$ver.head" -o "$d/$name.get.h$ver.body" \
        -w '%{http_version}:%{http_code}/%{size_download}' "$base/" 2>/dev/null)
    p=$(head -c "$POST_BYTES" /dev/zero | curl -s --max-time 10 "$@" -D "$d/$name.post.h$ver.head" \
        -o "$d/$name.post.h$ver.body" -w '%{http_version}:%{http_code}/%{size_download}' \
        -H 'Content-Type: application/octet-stream' --data-binary @- "$base/echo" 2>/dev/null)
    echo "${g:-error},${p:-error}"
}

# a response head without what may differ between two answers of the same origin: the status
# line's protocol, Date, the hop-by-hop fields of HTTP/1.1, and the protocol version in Via (the
# proxy names the protocol it received the answer with: "1.1 mcxproxy" / "2 mcxproxy");
# names lower-case, sorted
norm_head() { # FILE
    tr -d '\r' <"$1" | awk 'NR == 1 { print "status " $2; next } /^$/ { next } {
        i = index($0, ":"); n = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1); sub(/^[ \t]+/, "", v)
        if (n == "date" || n == "connection" || n == "keep-alive") next
        if (n == "via") sub(/^(HTTP\/)?[0-9.]+ /, "<version> ", v)
        print n ": " v }' | sort
}

# the answers through FE against the origin's: bodies byte for byte, for every frontend; for
# mcxproxy and mcxproxy-h2up also the heads: the origin's (HTTP/1.1 listener) plus Via, and
# mcxproxy-h2up's the same as mcxproxy's (when mcxproxy ran before it)
compare_responses() { # FE VER... -> SAME ("yes" or "no:what"), FETCHED[VER] (fetch_pair's line)
    local fe=$1 d=$RUN/preflight v r what=() opt
    shift
    for v in "$@"; do
        opt=--http1.1; [[ $v == 2 ]] && opt=--http2
        FETCHED[$v]=$(fetch_pair "$fe" "$v" "https://127.0.0.1:$FE_PORT" -k "$opt")
        for r in get post; do
            cmp -s "$d/$fe.$r.h$v.body" "$d/origin.$r.h1.body" || what+=("$r/h$v:body")
            [[ $fe == mcxproxy* ]] || continue
            diff -q <(norm_head "$d/$fe.$r.h$v.head" | grep -v '^via: ') <(norm_head "$d/origin.$r.h1.head") >/dev/null ||
                what+=("$r/h$v:head-vs-origin")
            if [[ $fe == mcxproxy-h2up && -s $d/mcxproxy.$r.h$v.head ]]; then
                diff -q <(norm_head "$d/$fe.$r.h$v.head") <(norm_head "$d/mcxproxy.$r.h$v.head") >/dev/null ||
                    what+=("$r/h$v:head-vs-mcxproxy")
            fi
        done
    done
    if ((${#what[@]})); then SAME="no:$(IFS=,; echo "${what[*]}")"; else SAME=yes; fi
}

preflight() { # FE: responses and TLS through the frontend, one line in preflight.tsv
    local fe=$1 out kv get post tls cipher alpn resumed tls12 noalpn h2alpn="-" h1="-" h2="-" vers=(1.1)
    local h2opt=()
    local -A FETCHED=()
    if want_scn get_h2; then h2opt=(--h2); vers+=(2); fi
    out=$(timeout 60 python3 "$BENCH_DIR/lib/tlsclient.py" check --port "$FE_PORT" --post-bytes "$POST_BYTES" "${h2opt[@]}" 2>&1)
    for kv in $out; do
        case $kv in
        get=*) get=${kv#*=} ;; post=*) post=${kv#*=} ;; tls=*) tls=${kv#*=} ;;
        cipher=*) cipher=${kv#*=} ;; alpn=*) alpn=${kv#*=} ;; resumed=*) resumed=${kv#*=} ;;
        tls12=*) tls12=${kv#*=} ;; noalpn=*) noalpn=${kv#*=} ;; h2alpn=*) h2alpn=${kv#*=} ;;
        esac
    done
    compare_responses "$fe" "${vers[@]}"
    h1=${FETCHED[1.1]:--}
    [[ -n ${FETCHED[2]:-} ]] && h2=${FETCHED[2]}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fe" "${get:-?}" "${post:-?}" "${tls:-?}" "${cipher:-?}" \
        "${alpn:-?}" "${resumed:-?}" "${tls12:-?}" "${noalpn:-?}" "$h2alpn" "$h2" "$SAME" "$(affinity "$FE_PID")" >>"$OUT/preflight.tsv"
    log "  preflight $fe: GET ${get:-?} POST ${post:-?} ${tls:-?} ${cipher:-?} alpn=${alpn:-?} resumption=${resumed:-?} TLS1.2=${tls12:-?}"
    log "  preflight $fe: no ALPN offered (as wrk): ${noalpn:-?}; curl HTTP/1.1 $h1$( ((${#h2opt[@]})) && echo "; offered h2,http/1.1: alpn=$h2alpn, curl --http2 $h2"); responses identical to the origin's: $SAME"
    [[ ${get:-} == 200/1024 ]] || log "  WARNING: $fe GET / answered '${get:-?}' (want 200/1024): $out"
    [[ ${post:-} == "200/16384" ]] || log "  WARNING: $fe POST /echo answered '${post:-?}' (want 200/16384)"
    [[ ${tls:-} == TLSv1.3 ]] || log "  WARNING: $fe negotiated '${tls:-?}', not TLSv1.3"
    # the HTTP/1.1 tools must stay on HTTP/1.1 now that the frontends also offer h2
    [[ ${alpn:-} == http/1.1 ]] || log "  WARNING: $fe selected ALPN '${alpn:-?}' for a client offering http/1.1"
    [[ ${noalpn:-} == 200/1024/- ]] || log "  WARNING: $fe answered a client without ALPN (as wrk) '${noalpn:-?}' (want 200/1024/-)"
    [[ $h1 == "1.1:200/1024,1.1:200/16384" ]] || log "  WARNING: curl --http1.1 through $fe: $h1 (want 1.1:200/1024,1.1:200/16384)"
    if ((${#h2opt[@]})); then
        [[ $h2alpn == h2 ]] || log "  WARNING: $fe did not select h2 (got '$h2alpn') for a client offering h2,http/1.1"
        [[ $h2 == "2:200/1024,2:200/16384" ]] || log "  WARNING: curl --http2 through $fe: $h2 (want 2:200/1024,2:200/16384)"
    fi
    [[ $SAME == yes ]] || log "  WARNING: $fe: answers differ from the origin's ($SAME; see $RUN/preflight/)"
}

children_cpu() { # sets CHILD_CPU_S: CPU seconds of this shell's finished children (wrk, ...)
    # `times` must run in this shell, never inside $(...)
    times >"$RUN/.times"
    CHILD_CPU_S=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } printf "%.3f", s }' "$RUN/.times")
}

step_cmd() { # SCN OUTFILE -> STEP_CMD array: the bounded load tool of one step
    local url="https://127.0.0.1:$FE_PORT/"
    case $1 in
    get_ka | post_ka)
        local env_args=(BENCH_METHOD=GET)
        [[ $1 == post_ka ]] && env_args=(BENCH_METHOD=POST BENCH_BODY_BYTES="$POST_BYTES") && url+="echo"
        STEP_CMD=(env "${env_args[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency
            -s "$BENCH_DIR/lib/wrk.lua" "$url") ;;
    close | resume) # a new TLS 1.3 connection per GET (Connection: close); resume: offers its ticket
        STEP_CMD=("$TLSLOAD" -p "$FE_PORT" -c "$CONNS" -d "$DURATION" -v 13 -s localhost
            -H "127.0.0.1:$FE_PORT" -T $((DURATION + 20)))
        [[ $1 == resume ]] && STEP_CMD+=(-r) ;;
    latency) # fixed rate: LAT_RATE / CONNS per connection, a warm-up (not in the figures) first
        STEP_CMD=(h2load --h1 -t1 -c"$CONNS" --rps="$LAT_RPS" -D "$DURATION" --warm-up-time="$LAT_WARMUP"
            --log-file="$2.log" "$url") ;;
    get_h2) # HTTP/2 only (ALPN h2, checked in the result), H2_CONNS connections x H2_STREAMS streams
        STEP_CMD=(h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$DURATION" --npn-list=h2
            --log-file="$2.log" "$url") ;;
    esac
}

measure_step() { # FE SCN REP ATTEMPT -> sets M (key=value list), M_OTHER (max foreign busy %)
    local fe=$1 scn=$2 rep=$3 attempt=$4 of line kv rc
    local c0 c1 o0 o1 k0 k1 f0 f1 l0 l1 t0 t1 r0 r1
    of=$RAW/$fe.$scn.r$rep.$attempt.txt
    step_cmd "$scn" "$of"
    r0=$(rss_kib "${FE_PIDS[@]}"); c0=$(cpu_ticks "${FE_PIDS[@]}"); o0=$(cpu_ticks "${ORIGIN_PIDS[@]}")
    children_cpu; k0=$CHILD_CPU_S
    f0=$(core_jiffies "$FE_CPU"); l0=$(core_jiffies "$LG_CPU"); t0=$(date +%s%N)
    run_tool "$of" $((DURATION + 30)) "${STEP_CMD[@]}"
    rc=$?
    t1=$(date +%s%N); f1=$(core_jiffies "$FE_CPU"); l1=$(core_jiffies "$LG_CPU")
    c1=$(cpu_ticks "${FE_PIDS[@]}"); o1=$(cpu_ticks "${ORIGIN_PIDS[@]}"); r1=$(rss_kib "${FE_PIDS[@]}")
    children_cpu; k1=$CHILD_CPU_S
    if [[ $scn == latency ]]; then
        python3 "$BENCH_DIR/lib/h2load_result.py" "$of" "$of.log" >>"$of" 2>&1
        rm -f "$of.log"
    elif [[ $scn == get_h2 ]]; then   # also: every connection HTTP/2, every client served
        python3 "$BENCH_DIR/lib/h2load_result.py" --alpn h2 --clients "$H2_CONNS" "$of" "$of.log" >>"$of" 2>&1
        rm -f "$of.log"
    fi
    local dead=0 tool_ok=yes
    fe_alive || dead=1   # a dead frontend's CPU time is gone: no CPU figures for this step
    line=$(grep '^RESULT ' "$of" | tail -n 1)
    local -A R=([requests]=0 [duration_us]=1 [err_connect]=0 [err_tls]=0 [err_read]=0 [err_write]=0
        [err_status]=0 [err_timeout]=0 [p50_us]=0 [p90_us]=0 [p99_us]=0 [max_us]=0 [resumed]=-)
    if [[ -z $line || $rc -ne 0 ]]; then
        log "  WARNING: ${STEP_CMD[0]##*/} exited $rc without a result for $fe/$scn (see $of)"
        tool_ok=no
    else
        for kv in ${line#RESULT }; do R[${kv%%=*}]=${kv#*=}; done
    fi
    # the latency step's CPU window also holds h2load's warm-up, at the same rate
    local ops=${R[requests]}
    [[ $scn == latency && $tool_ok == yes ]] &&
        ops=$(awk -v r="${R[requests]}" -v d="${R[duration_us]}" -v w="$LAT_WARMUP" 'BEGIN{d /= 1e6; printf "%d", (d > 0 ? r * (d + w) / d : 0)}')
    # busy time of each core not explained by our processes = another tenant disturbed the step
    M=$(awk -v req="${R[requests]}" -v ops="$ops" -v dus="${R[duration_us]}" -v c0="$c0" -v c1="$c1" -v o0="$o0" -v o1="$o1" \
        -v k0="$k0" -v k1="$k1" -v hz="$HZ" -v t0="$t0" -v t1="$t1" -v dead="$dead" -v res="${R[resumed]}" \
        -v fb="$(busy_pct "$f0" "$f1")" -v lb="$(busy_pct "$l0" "$l1")" \
        -v p50="${R[p50_us]}" -v p90="${R[p90_us]}" -v p99="${R[p99_us]}" -v mx="${R[max_us]}" 'BEGIN{
        wall = (t1 - t0) / 1e9; cpu = (c1 - c0) / hz; fe = 100 * cpu / wall;
        og = 100 * (o1 - o0) / hz / wall; tool = 100 * (k1 - k0) / wall;
        printf "requests=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f ", req, dus / 1e6, (dus > 0 ? req / (dus / 1e6) : 0), p50 / 1000, p90 / 1000, p99 / 1000, mx / 1000;
        if (res != "-") printf "resumed_pct=%.1f ", (req > 0 ? 100 * res / req : 0);
        if (dead) { printf "fe_core_busy_pct=%d load_core_busy_pct=%d other_fe_pct=0 other_load_pct=0", fb, lb; exit }
        printf "fe_cpu_s=%.2f cpu_us_per_req=%s fe_cpu_pct=%.0f fe_core_busy_pct=%d load_core_busy_pct=%d ",
            cpu, (ops > 0 ? sprintf("%.1f", cpu * 1e6 / ops) : "-"), fe, fb, lb;
        printf "origin_cpu_pct=%.0f tool_cpu_pct=%.0f other_fe_pct=%.0f other_load_pct=%.0f", og, tool, fb - fe, lb - og - tool }')
    M+=" sock_errors=$((R[err_connect] + R[err_tls] + R[err_read] + R[err_write] + R[err_timeout])) non2xx=${R[err_status]}"
    M+=" rss_before_kib=$r0 rss_after_kib=$r1 tool_ok=$tool_ok"
    M+=" err_detail=c${R[err_connect]}/tls${R[err_tls]}/r${R[err_read]}/w${R[err_write]}/t${R[err_timeout]}"
    local ofe=${M##*other_fe_pct=} olg=${M##*other_load_pct=}
    ofe=${ofe%% *} olg=${olg%% *}
    # the load core is allowed more: loopback softirq work of the origin and the tool lands there
    M_OTHER=$((ofe > olg / 2 ? ofe : olg / 2))
}

run_load() { # FE SCN REP: one load step; measured again (RETRIES times) when another process disturbed it
    local fe=$1 scn=$2 rep=$3 attempt best="" best_other=999 quiet_best=1 alive=yes
    for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
        wait_quiet
        measure_step "$fe" "$scn" "$rep" "$attempt"
        if ((M_OTHER < best_other)); then best="attempt=$attempt $M" best_other=$M_OTHER quiet_best=$QUIET; fi
        fe_alive || break
        ((M_OTHER > OTHER_MAX)) || break
        ((attempt <= RETRIES)) && log "  $fe $scn: disturbed by another process (${M_OTHER}% of a core), measuring again"
    done
    fe_alive || alive=no
    local disturbed=0
    ((best_other > OTHER_MAX)) && disturbed=1
    # shellcheck disable=SC2086 # $best is a list of key=value words
    tsv_row frontend="$fe" scenario="$scn" rep="$rep" quiet="$quiet_best" disturbed="$disturbed" fe_alive="$alive" $best
    local -A B=()
    local kv
    for kv in $best; do B[${kv%%=*}]=${kv#*=}; done
    log "  $fe $scn rep $rep: ${B[rps]:--} req/s, p50 ${B[p50_ms]:--} ms, p99 ${B[p99_ms]:--} ms, ${B[cpu_us_per_req]:--} us CPU/req, frontend ${B[fe_cpu_pct]:--}% of its core, load core ${B[load_core_busy_pct]:--}%${B[resumed_pct]:+, resumed ${B[resumed_pct]}%}$( ((disturbed)) && echo " (DISTURBED: ${best_other}% foreign load)")"
    if ((B[sock_errors] > 0 || B[non2xx] > 0)); then
        log "  ERROR: $fe $scn rep $rep: socket errors ${B[sock_errors]} (${B[err_detail]}), non-2xx answers ${B[non2xx]} (see $RAW/$fe.$scn.r$rep.${B[attempt]}.txt)"
    fi
    if [[ $alive == no ]]; then
        log "  ERROR: $fe died during $scn; last lines of $FE_LOG:"
        tail -n 20 "$FE_LOG" >&2
    fi
}

run_idle() { # FE: fresh frontend, warm-up, IDLE_CONNS idle TLS connections, RSS per connection
    local fe=$1 of=$RAW/$1.idle.txt line kv rc alive=yes
    fe_start "$fe"
    fe_warmup "$fe"
    sleep 1
    wait_quiet
    run_tool "$of" $((IDLE_CONNS / 20 + 120)) python3 "$BENCH_DIR/lib/tlsclient.py" idle --port "$FE_PORT" \
        --conns "$IDLE_CONNS" --conc "$IDLE_CONC" --pids "$(IFS=,; echo "${FE_PIDS[*]}")" \
        --deadline $((IDLE_CONNS / 20 + 100))
    rc=$?
    line=$(grep '^RESULT ' "$of" | tail -n 1)
    local -A R=()
    for kv in ${line#RESULT }; do R[${kv%%=*}]=${kv#*=}; done
    fe_alive || alive=no
    local tool_ok=yes
    [[ -n $line ]] || { log "  WARNING: idle probe for $fe gave no result (exit $rc, see $of)"; tool_ok=no; }
    tsv_row frontend="$fe" scenario=idle rep=1 attempt=1 quiet="$QUIET" requests="${R[conns]:-0}" tool_ok="$tool_ok" \
        rss_before_kib="${R[rss_before_kib]:--}" rss_after_kib="${R[rss_after_request_kib]:--}" \
        rss_after_close_kib="${R[rss_after_close_kib]:--}" \
        kib_per_conn_handshake="${R[kib_per_conn_handshake]:--}" kib_per_conn_request="${R[kib_per_conn_request]:--}" \
        idle_failures="$((${R[open_failed]:-0} + ${R[request_failed]:-0}))" fe_alive="$alive"
    log "  $fe idle: ${R[conns]:-0}/$IDLE_CONNS connections, ${R[kib_per_conn_handshake]:-?} KiB/conn after the handshake, ${R[kib_per_conn_request]:-?} KiB/conn after one request (RSS ${R[rss_before_kib]:-?} -> ${R[rss_after_request_kib]:-?} KiB; ${R[rss_after_close_kib]:-?} KiB 2 s after closing them)"
    if ((rc != 0)); then
        log "  WARNING: $fe idle: open_failed=${R[open_failed]:-?} request_failed=${R[request_failed]:-?} (exit $rc, see $of)"
    fi
    if [[ $alive == no ]]; then
        log "  ERROR: $fe died during the idle probe; last lines of $FE_LOG:"
        tail -n 20 "$FE_LOG" >&2
        FE_PID=""
        return 0
    fi
    fe_stop
}

# ---- main -------------------------------------------------------------------------------------
mkdir -p "$OUT/raw" "$OUT/run" || die "cannot create $OUT"
RAW=$OUT/raw RUN=$OUT/run RESULTS=$OUT/results.tsv
ensure_tools
if want_mcx; then resolve_mcxproxy; fi
if want_scn close || want_scn resume; then build_tlsload; fi
LAT_WARMUP=1                                                                  # s, h2load --warm-up-time
LAT_RPS=$(awk -v r="$LAT_RATE" -v c="$CONNS" 'BEGIN{printf "%g", r / c}')   # h2load --rps is per connection

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel: $(uname -r)"
    echo "cpu: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
    echo "os: $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")"
    echo "nginx: $(nginx -v 2>&1)"
    want_fe haproxy && echo "haproxy: $(haproxy -v 2>&1 | head -n 1)"
    if want_mcx; then
        echo "mcxproxy: $MCX_BIN ($("$MCX_BIN" -V 2>&1), built $(date -r "$MCX_BIN" '+%Y-%m-%d %H:%M:%S'))"
        if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
            echo "tree: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')"
        fi
    fi
    echo "wrk: $(wrk -v 2>&1 | head -n 1)"
    { want_scn latency || want_scn get_h2; } && echo "h2load: $(h2load --version 2>&1 | head -n 1)"
    [[ -n ${TLSLOAD:-} ]] && echo "tlsload: $TLSLOAD (from lib/tlsload.c)"
    echo "openssl: $(openssl version)"
    echo "python3: $(python3 --version 2>&1)"
    echo "settings: REPS=$REPS DURATION=$DURATION CONNS=$CONNS H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS LAT_RATE=$LAT_RATE IDLE_CONNS=$IDLE_CONNS IDLE_CONC=$IDLE_CONC POST_BYTES=$POST_BYTES WARMUP=$WARMUP FE_CPU=$FE_CPU LG_CPU=$LG_CPU QUIET_MAX=$QUIET_MAX QUIET_WAIT=$QUIET_WAIT OTHER_MAX=$OTHER_MAX RETRIES=$RETRIES"
    echo "tls: 1.2 $TLS12_CIPHERS; 1.3 $TLS13_SUITES; groups $TLS_GROUPS"
    echo "frontends: $FRONTENDS"
    echo "scenarios: $SCENARIOS"
} >"$OUT/versions.txt"
cat "$OUT/versions.txt" >&2

printf '%s\n' "$TSV_COLS" | tr ' ' '\t' >"$RESULTS"
printf 'frontend\tget\tpost\ttls\tcipher\talpn\tresumed\ttls12\tnoalpn\th2alpn\th2\tsame\taffinity\n' >"$OUT/preflight.tsv"
make_cert
start_origin
FE_PORT=$(pick_port) || exit 1
log "frontends on 127.0.0.1:$FE_PORT, CPU $FE_CPU; results in $OUT"

LOAD_SCNS=()
for s in "${SCN_LIST[@]}"; do [[ $s == idle ]] || LOAD_SCNS+=("$s"); done
# REPS repetitions of the load scenarios, the frontends in the same order in each; the preflight
# (and the idle scenario, on a fresh start) in the first repetition only
NREPS=$REPS
((${#LOAD_SCNS[@]})) || NREPS=1
for ((rep = 1; rep <= NREPS; rep++)); do
    for fe in "${FE_LIST[@]}"; do
        log "== $fe, repetition $rep/$NREPS"
        fe_start "$fe"
        ((rep == 1)) && preflight "$fe"
        if ((${#LOAD_SCNS[@]})); then
            fe_warmup "$fe"
            for scn in "${LOAD_SCNS[@]}"; do
                if ! fe_alive; then
                    log "  restarting $fe after its exit"
                    FE_PID=""
                    fe_start "$fe"
                    fe_warmup "$fe"
                fi
                run_load "$fe" "$scn" "$rep"
            done
        fi
        if fe_alive; then fe_stop; else FE_PID=""; fi
        if ((rep == 1)) && want_scn idle; then run_idle "$fe"; fi
    done
done
stop_pid "$ORIGIN_PID"; ORIGIN_PID=""

python3 "$BENCH_DIR/lib/report.py" "$OUT" | tee "$OUT/summary.txt"
rc=${PIPESTATUS[0]}
log "results: $RESULTS, summary: $OUT/summary.txt, raw tool output: $RAW, configs and logs: $RUN"
if ((rc != 0)); then
    log "FAILED: the report found errors (exit $rc) - see the ERROR lines of the summary"
    exit "$rc"
fi
exit 0
