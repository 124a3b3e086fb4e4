#!/bin/sh
# testssl.sh against the ue listeners (HTTP-1), one with the ECDSA P-256
# certificate and one with the RSA-2048 certificate: an independent scanner
# (its own sockets, so it also offers SSLv2/SSLv3, NULL, EXPORT, RC4, 3DES
# and CBC suites that the local OpenSSL no longer has) checks the TS 33.210
# 6.2 profile:
#   - SSLv2, SSLv3, TLS 1.0, TLS 1.1 not offered; TLS 1.2 and TLS 1.3 offered
#   - every TLS 1.2 suite (EC)DHE with AEAD (AES-GCM or CHACHA20-POLY1305),
#     the mandatory ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256 among them; TLS 1.3
#     only the RFC 8446 suites, TLS_AES_128_GCM_SHA256 among them
#   - no NULL, anonymous, EXPORT, RC4, (3)DES, CBC suite on any protocol
#   - ECDHE groups X25519, P-256 and P-384, nothing else
#   - renegotiation_info and extended_master_secret; no truncated HMAC, no
#     heartbeat
#   - no TLS compression (CRIME); secure renegotiation, no client-initiated
#     renegotiation
#   - no finding of severity MEDIUM, HIGH or CRITICAL, except the three that
#     describe the throwaway test PKI rather than the proxy (30-day validity,
#     no CRL/OCSP URI)
# A summary table of the findings goes into the test log.
#
# Needs the testssl.sh scanner (Debian/Ubuntu package "testssl.sh", whose
# command is "testssl"; upstream's is "testssl.sh"; or set TESTSSL).  The
# scan stays on 127.0.0.1: no DNS (--nodns none; the target is an address),
# no CRL/OCSP fetches (no --phone-out), the test CA given with --add-ca.
# Each scan is bounded by TESTSSL_TIMEOUT (default 300 s); each takes about
# 40 s on two cores.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v timeout >/dev/null || skip "timeout(1) is not installed"
if [ -z "${TESTSSL:-}" ]; then
	TESTSSL=$(command -v testssl.sh || command -v testssl || true)
fi
[ -n "$TESTSSL" ] || skip "testssl.sh is not installed (Debian package testssl.sh)"
: "${TESTSSL_TIMEOUT:=300}"

make_certs
P_EC=$(free_port)
P_RSA=$(free_port)
while [ "$P_RSA" = "$P_EC" ]; do P_RSA=$(free_port); done
PROXY_PORT=$P_EC
write_conf proxy.conf <<CONFEOF
domain = "mcx.own.example";
workers = 1;
log = { level = "info"; access = "stderr"; };
listeners = (
  { role = "ue"; address = "127.0.0.1:$P_EC";
    tls = { certificate = "$PKI/proxy-chain.pem"; key = "$PKI/proxy.key"; }; },
  { role = "ue"; address = "127.0.0.1:$P_RSA";
    tls = { certificate = "$PKI/proxy-rsa-chain.pem"; key = "$PKI/proxy-rsa.key"; }; }
);
idm_servers = ["idms.mcx.own.example"];
CONFEOF
check_conf "$CONF"
start_proxy "$CONF" "$P_EC" "$P_RSA"

# scan NAME PORT: testssl.sh against 127.0.0.1:PORT; findings (flat JSON)
# in $TMP/testssl-NAME.json, its screen output in $TMP/testssl-NAME.log.
#   -p protocols, -E each cipher per protocol, -S server defaults (extensions,
#   certificate), -P server preference, -f forward secrecy (ECDHE groups),
#   -U every vulnerability check (heartbleed, CCS, ticketbleed, ROBOT,
#   renegotiation, CRIME, BREACH, POODLE, fallback SCSV, SWEET32, FREAK,
#   DROWN, LOGJAM, BEAST, LUCKY13, RC4).
# testssl.sh's exit status counts findings; only a timeout or one of its
# own errors (>= 240) fails here, the findings are judged from the JSON.
scan() {
	_name=$1 _port=$2
	say "testssl.sh ($TESTSSL) against the $_name listener 127.0.0.1:$_port"
	_t0=$(date +%s)
	_rc=0
	timeout -k 10 "$TESTSSL_TIMEOUT" "$TESTSSL" --quiet --color 0 \
	    --warnings off --ip 127.0.0.1 --nodns none \
	    --connect-timeout 5 --openssl-timeout 10 \
	    --add-ca "$PKI/ca.pem" --jsonfile "$TMP/testssl-$_name.json" \
	    -p -E -S -P -f -U "127.0.0.1:$_port" \
	    </dev/null >"$TMP/testssl-$_name.log" 2>&1 || _rc=$?
	say "testssl.sh ($_name) exit $_rc after $(( $(date +%s) - _t0 )) s"
	case $_rc in
	124 | 137) fail "testssl.sh ($_name) did not finish within $TESTSSL_TIMEOUT s" ;;
	24[0-9] | 25[0-9]) fail "testssl.sh ($_name) failed with its error $_rc (see testssl-$_name.log)" ;;
	esac
	[ -s "$TMP/testssl-$_name.json" ] || fail "testssl.sh ($_name) wrote no JSON findings"
	is_alive "$PROXY_PID" || fail "mcxproxy died during the $_name scan"
}

scan ecdsa "$P_EC"
scan rsa "$P_RSA"

# The judgement: prints the summary, then one "VIOLATION: ..." line per
# departure from the profile; exit 1 when there is one.
rc=0
python3 - "$TMP/testssl-ecdsa.json" ecdsa "$TMP/testssl-rsa.json" rsa \
    >"$TMP/verdict.txt" 2>&1 <<'PYEOF' || rc=$?
import json, re, sys

SEVERE = ("MEDIUM", "HIGH", "CRITICAL")
# Findings about the throwaway test PKI (tests/tools/mkcerts.sh: 30 days,
# no CRL distribution point, no OCSP URI), not about the proxy.
TEST_PKI = {"cert_expirationStatus", "cert_notAfter", "cert_revocation"}
TLS12_OK = re.compile(r"^TLS_(ECDHE|DHE)_(ECDSA|RSA)_WITH_"
                      r"(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$")
TLS13_OK = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256"}
FORBIDDEN = re.compile(r"NULL|ANON|ADH|AECDH|EXP|RC4|RC2|IDEA|DES|CBC|MD5|SEED|CAMELLIA|ARIA|_CCM|-CCM",
                       re.I)
GROUPS_OK = {"prime256v1", "secp384r1", "X25519"}
PROTO_IDS = [("SSLv2", "SSLv2", False), ("SSLv3", "SSLv3", False),
             ("TLS1", "TLS 1.0", False), ("TLS1_1", "TLS 1.1", False),
             ("TLS1_2", "TLS 1.2", True), ("TLS1_3", "TLS 1.3", True)]
CIPHER_ID = re.compile(r"^cipher-(ssl2|ssl3|tls1|tls1_1|tls1_2|tls1_3)_x([0-9a-f]+)$", re.I)
CIPHER_ROW = re.compile(r"\sx[0-9a-fA-F]+\s+(\S+)\s.*\s(\S+)\s*$")

violations = []
rows = []


def bad(label, msg):
    violations.append("%s: %s" % (label, msg))


def check(path, label):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):          # --jsonfile-pretty layout, just in case
        data = [x for s in data.get("scanResult", []) for v in s.values()
                if isinstance(v, list) for x in v]
    by_id = {}
    for e in data:
        by_id.setdefault(e.get("id", ""), []).append(e)

    def finding(i):
        es = by_id.get(i)
        return es[0].get("finding", "") if es else None

    # Protocols
    offered = []
    for pid, name, want in PROTO_IDS:
        fnd = finding(pid)
        if fnd is None:
            bad(label, "no finding for %s (did -p run?)" % name)
            continue
        is_off = fnd.startswith("offered")
        if is_off:
            offered.append(name)
        if is_off != want or (not want and not fnd.startswith("not offered")):
            bad(label, "%s: %r, expected %s" % (name, fnd, "offered" if want else "not offered"))
    rows.append((label, "protocols offered", " ".join(offered) or "-"))

    # Ciphers per protocol (-E)
    suites = {}
    for i, es in by_id.items():
        m = CIPHER_ID.match(i)
        if not m:
            continue
        proto = m.group(1).lower()
        r = CIPHER_ROW.search(es[0].get("finding", ""))
        if not r:
            bad(label, "cannot parse cipher finding %s: %r" % (i, es[0].get("finding")))
            continue
        ossl, iana = r.group(1), r.group(2)
        suites.setdefault(proto, []).append((ossl, iana))
        why = []
        if proto not in ("tls1_2", "tls1_3"):
            why.append("offered on " + proto)
        elif proto == "tls1_2" and not TLS12_OK.match(iana):
            why.append("not (EC)DHE + AES-GCM/CHACHA20-POLY1305")
        elif proto == "tls1_3" and iana not in TLS13_OK:
            why.append("not an RFC 8446 GCM/ChaCha20 suite")
        if FORBIDDEN.search(ossl + " " + iana):
            why.append("forbidden kind (NULL/anon/EXPORT/RC4/DES/CBC/...)")
        if why:
            bad(label, "suite %s (%s) on %s: %s" % (ossl, iana, proto, "; ".join(why)))
    t12 = [o for o, _ in suites.get("tls1_2", [])]
    t13 = [i for _, i in suites.get("tls1_3", [])]
    if not t12:
        bad(label, "no TLS 1.2 suite found (did -E run?)")
    if not t13:
        bad(label, "no TLS 1.3 suite found (did -E run?)")
    if "TLS_AES_128_GCM_SHA256" not in t13:
        bad(label, "mandatory TLS_AES_128_GCM_SHA256 not offered")
    mti = "ECDHE-RSA-AES128-GCM-SHA256" if label == "rsa" else "ECDHE-ECDSA-AES128-GCM-SHA256"
    if mti not in t12:
        bad(label, "mandatory %s not offered" % mti)
    rows.append((label, "TLS 1.2 suites", " ".join(sorted(t12)) or "-"))
    rows.append((label, "TLS 1.3 suites", " ".join(sorted(t13)) or "-"))

    # Groups (-f): PFS_ECDHE_curves (3.0) or FS_ECDHE_curves (3.1+)
    g = finding("PFS_ECDHE_curves")
    if g is None:
        g = finding("FS_ECDHE_curves")
    if g is None:
        bad(label, "no ECDHE groups finding (did -f run?)")
    else:
        gs = set(g.split())
        rows.append((label, "ECDHE groups", " ".join(sorted(gs))))
        if gs - GROUPS_OK:
            bad(label, "ECDHE groups outside X25519/P-256/P-384: %s" % " ".join(sorted(gs - GROUPS_OK)))
        if GROUPS_OK - gs:
            bad(label, "profile groups not offered: %s" % " ".join(sorted(GROUPS_OK - gs)))
    for i in ("DH_groups", "DH_group_offered"):
        if finding(i) is not None:
            rows.append((label, "finite-field DH", finding(i)))

    # TLS extensions (-S)
    ext = finding("TLS_extensions")
    if ext is None:
        bad(label, "no TLS_extensions finding (did -S run?)")
    else:
        for need in ("#65281", "#23"):
            if need + "'" not in ext and need + '"' not in ext and not ext.rstrip().endswith(need):
                bad(label, "extension %s (%s) missing: %s"
                    % (need, {"#65281": "renegotiation_info", "#23": "extended_master_secret"}[need], ext))
        for forbid, what in (("#4'", "truncated HMAC"), ("#15'", "heartbeat")):
            if forbid in ext:
                bad(label, "%s extension offered: %s" % (what, ext))
        rows.append((label, "TLS extensions", ", ".join(re.findall(r"'([^']+)'", ext)) or ext))

    # Compression and renegotiation (-U / -R / -C)
    for i, want, what in (("CRIME_TLS", "not vulnerable", "TLS compression"),
                          ("secure_renego", "supported", "secure renegotiation (RFC 5746)"),
                          ("secure_client_renego", "not vulnerable", "client-initiated renegotiation"),
                          ("heartbleed", "not vulnerable", "heartbleed"),
                          ("CCS", "not vulnerable", "CCS injection")):
        fnd = finding(i)
        if fnd is None:
            bad(label, "no %s finding (%s)" % (i, what))
        elif not fnd.startswith(want):
            bad(label, "%s: %r, expected %r" % (what, fnd, want))
        else:
            rows.append((label, what, fnd))
    rows.append((label, "server cipher order", finding("cipher_order") or "-"))
    rows.append((label, "negotiated by default",
                 "%s, %s" % (finding("protocol_negotiated") or "-", finding("cipher_negotiated") or "-")))
    rows.append((label, "OCSP stapling", finding("OCSP_stapling") or "-"))

    # Severity: anything MEDIUM or worse, except the test-PKI findings.
    n = 0
    for e in data:
        sev = e.get("severity", "")
        if sev in SEVERE or sev == "WARN":
            n += 1
            if e.get("id") in TEST_PKI:
                note = " (test PKI, accepted)"
            elif sev == "WARN":
                note = " (scanner warning)"
            else:
                note = ""
                bad(label, "%s %s: %s" % (sev, e.get("id"), e.get("finding")))
            rows.append((label, "finding " + sev, "%s: %s%s" % (e.get("id"), e.get("finding"), note)))
    if n == 0:
        rows.append((label, "findings >= MEDIUM", "none"))


args = sys.argv[1:]
for path, label in zip(args[0::2], args[1::2]):
    try:
        check(path, label)
    except (OSError, ValueError) as exc:
        bad(label, "cannot read %s: %s" % (path, exc))

print("testssl.sh summary")
print("%-6s  %-32s  %s" % ("cert", "check", "result"))
for label, what, res in rows:
    print("%-6s  %-32s  %s" % (label, what, res))
for v in violations:
    print("VIOLATION: " + v)
sys.exit(1 if violations else 0)
PYEOF
sed 's/^/# /' "$TMP/verdict.txt"
if [ "$rc" -ne 0 ]; then
	fail "testssl.sh findings outside the TS 33.210 profile: $(grep '^VIOLATION' "$TMP/verdict.txt" | head -20)"
fi
stop_proxy 10
