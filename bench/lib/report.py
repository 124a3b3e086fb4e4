#!/usr/bin/env python3
"""Summary table of one bench/run.sh run: report.py OUT_DIR (reads results.tsv, preflight.tsv).

Each cell is the median over the repetitions (results.tsv has one row per frontend, scenario and
repetition).  Ratios are mcxproxy's median divided by each peer's median, and by the best peer's;
variants of mcxproxy (frontends named mcxproxy-*, e.g. mcxproxy-h2up: an HTTP/2 upstream) are not
peers: they get a column variant/mcxproxy instead.
A scenario in which any frontend had errors (socket errors, non-2xx answers, a failed tool run, a
frontend that died, failed idle connections) is not a measurement: no ratios for it, an ERROR
line, and exit status 3.  So is a run whose preflight found a frontend on another protocol than
the tools expect (ALPN), or answers that differ from the origin's.
"""

import csv
import os
import statistics
import sys

SUBJECT = "mcxproxy"
SCENARIOS = [
    ("get_ka", "keep-alive GET 1 KiB"),
    ("post_ka", "keep-alive POST 16 KiB"),
    ("get_h2", "HTTP/2 GET 1 KiB (h2load)"),
    ("close", "new conn per GET, full TLS 1.3"),
    ("resume", "new conn per GET, TLS 1.3 resumed"),
    ("latency", "fixed-rate GET (h2load)"),
    ("idle", "idle TLS connections"),
]
# (column, label, format, higher_is_better: True / False / None = no ratio)
KA = [
    ("rps", "req/s", "{:,.0f}", True),
    ("p50_ms", "p50 latency ms", "{:.2f}", False),
    ("p99_ms", "p99 latency ms", "{:.2f}", False),
    ("cpu_us_per_req", "CPU us/req", "{:.1f}", False),
    ("fe_cpu_pct", "frontend core %", "{:.0f}", None),
    ("load_core_busy_pct", "load core %", "{:.0f}", None),
    ("errors", "errors", "{:.0f}", None),
]
CONN = [
    ("rps", "conn/s", "{:,.0f}", True),
    ("p50_ms", "p50 conn+GET ms", "{:.2f}", False),
    ("p99_ms", "p99 conn+GET ms", "{:.2f}", False),
    ("cpu_us_per_req", "CPU us/conn", "{:.1f}", False),
    ("resumed_pct", "resumed %", "{:.1f}", None),
    ("fe_cpu_pct", "frontend core %", "{:.0f}", None),
    ("load_core_busy_pct", "load core %", "{:.0f}", None),
    ("errors", "errors", "{:.0f}", None),
]
LAT = [
    ("rps", "req/s (fixed)", "{:,.0f}", None),
    ("p50_ms", "p50 latency ms", "{:.3f}", False),
    ("p99_ms", "p99 latency ms", "{:.3f}", False),
    ("cpu_us_per_req", "CPU us/req", "{:.1f}", False),
    ("fe_cpu_pct", "frontend core %", "{:.0f}", None),
    ("errors", "errors", "{:.0f}", None),
]
IDLE = [
    ("kib_per_conn_handshake", "KiB/conn, handshake", "{:.1f}", False),
    ("kib_per_conn_request", "KiB/conn, +1 request", "{:.1f}", False),
    ("idle_failures", "failed conns", "{:.0f}", None),
]
METRICS = {"get_ka": KA, "post_ka": KA, "get_h2": KA, "close": CONN, "resume": CONN, "latency": LAT, "idle": IDLE}
# per-repetition values shown for this column when there are several repetitions
PER_REP = "cpu_us_per_req"


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def failures(scn, rows):
    """-> (errors summed over the repetitions, list of problem descriptions) for one frontend."""
    errs, what = 0, []
    for r in rows:
        rep = r.get("rep", "?")
        if scn == "idle":
            n = int(num(r.get("idle_failures")) or 0)
            if n:
                what.append(f"{n} failed connections")
            errs += n
        else:
            se, nx = int(num(r.get("sock_errors")) or 0), int(num(r.get("non2xx")) or 0)
            if se or nx:
                what.append(f"rep {rep}: {se} socket errors ({r.get('err_detail', '?')}), {nx} non-2xx answers")
            errs += se + nx
        if r.get("tool_ok") == "no":
            what.append(f"rep {rep}: the load tool gave no result")
        if r.get("fe_alive") == "no":
            what.append(f"rep {rep}: the frontend died")
    return errs, what


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "results.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by = {}
    frontends = []
    for r in rows:
        if r["frontend"] not in frontends:
            frontends.append(r["frontend"])
        if r["scenario"] != "idle":
            r["errors"] = str(int(num(r["sock_errors"]) or 0) + int(num(r["non2xx"]) or 0))
        by.setdefault((r["frontend"], r["scenario"]), []).append(r)
    variants = [f for f in frontends if f.startswith(SUBJECT + "-")] if SUBJECT in frontends else []
    peers = [f for f in frontends if f != SUBJECT and f not in variants] if SUBJECT in frontends else []
    ratio_cols = ([f"{SUBJECT}/{p}" for p in peers] + ([f"{SUBJECT}/best"] if len(peers) > 1 else [])
                  + [f"{v}/{SUBJECT}" for v in variants])
    nreps = max((len(v) for (f, s), v in by.items() if s != "idle"), default=1)

    header = ["scenario", "metric"] + frontends + ratio_cols
    table = [header]
    notes, errors = [], []
    for scn, title in SCENARIOS:
        if not any((f, scn) in by for f in frontends):
            continue
        bad = {}
        for f in frontends:
            n, what = failures(scn, by.get((f, scn), []))
            if what:
                bad[f] = (n, what)
        for f, (n, what) in bad.items():
            errors.append(f"ERROR: {scn}: {f} " + (f"had {n} errors" if n else "failed") + " - " + "; ".join(what))
        if bad:
            errors.append(f"ERROR: {scn}: not a measurement ({', '.join(bad)} had errors): no ratios for this scenario")
        metrics = METRICS[scn]
        for i, (col, label, fmt, better) in enumerate(metrics):
            line = [title if i == 0 else "", label]
            vals = {}
            for f in frontends:
                rs = by.get((f, scn), [])
                vs = [num(r.get(col)) for r in rs]
                v = sum(x or 0 for x in vs) if col in ("errors", "idle_failures") and rs else median(vs)
                vals[f] = v
                cell = fmt.format(v) if v is not None else "-"
                if i == 0 and any(r.get("fe_alive") == "no" for r in rs):
                    cell += " (died)"
                    notes.append(f"WARNING: {f} exited during {scn} (see run/{f}.out)")
                if i == 0 and any(r.get("quiet") == "0" or r.get("disturbed") == "1" for r in rs):
                    cell += " *"
                line.append(cell)
            if col == "fe_cpu_pct" and scn != "latency":
                for f in frontends:
                    rs = by.get((f, scn), [])
                    fe = median([num(r.get("fe_cpu_pct")) for r in rs])
                    og = median([num(r.get("origin_cpu_pct")) for r in rs])
                    tl = median([num(r.get("tool_cpu_pct")) for r in rs])
                    # our own use of the load core: origin + load tool (foreign load excluded)
                    if fe is not None and og is not None and tl is not None and fe < 50 and og + tl < 60:
                        notes.append(f"NOTE: {f} {scn}: neither core was busy (frontend {fe:.0f}%, origin + load tool {og + tl:.0f}%): "
                                     "requests wait inside the frontend (latency-bound, e.g. Nagle/delayed ACK), "
                                     "and CPU us/req reads high at such low load")
            if col == "resumed_pct" and scn == "resume":
                for f in frontends:
                    v = vals.get(f)
                    if v is not None and v < 90:
                        notes.append(f"NOTE: {f} resumed only {v:.0f}% of the connections in 'resume', the rest were full "
                                     "handshakes.  The client uses each TLS 1.3 ticket once (RFC 8446 C.4, as OpenSSL clients "
                                     "and browsers do) and offers the newest: a server that sends no new ticket after a "
                                     "resumption gets every second connection as a full handshake")
            a = vals.get(SUBJECT)
            for p in peers:
                b = vals.get(p)
                line.append("" if better is None or bad or a is None or not b else f"{a / b:.2f}")
            if len(peers) > 1:
                pv = [vals[p] for p in peers if vals.get(p)]
                best = (max(pv) if better else min(pv)) if pv else None
                line.append("" if better is None or bad or a is None or not best else f"{a / best:.2f}")
            for v in variants:
                b = vals.get(v)
                line.append("" if better is None or bad or b is None or not a else f"{b / a:.2f}")
            table.append(line)
            if col == PER_REP and nreps > 1:
                line = ["", "  per rep"]
                for f in frontends:
                    line.append("/".join((fmt.format(num(r.get(col))) if num(r.get(col)) is not None else "-")
                                         for r in by.get((f, scn), [])) or "-")
                table.append(line + [""] * len(ratio_cols))
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for n, r in enumerate(table):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"Medians over {nreps} repetition(s) (errors: the sum).  Ratios = mcxproxy's median / the peer's")
    print("(best: the best peer's - highest req/s, lowest CPU, latency, KiB).  req/s higher is better (>1:")
    print("mcxproxy faster); latency, CPU us/req and KiB/conn lower is better (<1: mcxproxy cheaper).")
    for v in variants:
        print(f"{v}/{SUBJECT} = the variant's median / mcxproxy's (<1 for CPU: the variant is cheaper).")
    print("CPU us/req = frontend utime+stime / requests (per connection for close/resume).  * = another")
    print("process was busy on a core during a repetition (not quiet, or foreign load above OTHER_MAX).")
    pre = os.path.join(out, "preflight.tsv")
    if os.path.exists(pre):
        with open(pre, newline="") as f:
            p = list(csv.DictReader(f, delimiter="\t"))
        print()
        print("Preflight (status/bytes through each frontend, TLS a default client negotiates; noalpn: a client")
        print("offering no ALPN, as wrk; h2: ALPN chosen from h2,http/1.1 and curl --http2 GET,POST; same: bodies")
        print("identical to the origin's; for mcxproxy*, heads too: the origin's + Via, mcxproxy-h2up's = mcxproxy's):")
        w = max(len(r["frontend"]) for r in p) if p else 9
        for r in p:
            h2 = f" h2={r.get('h2alpn', '-')}:{r.get('h2', '-')}" if r.get("h2alpn", "-") != "-" else ""
            print(f"  {r['frontend']:<{w}} GET {r['get']}  POST {r['post']}  {r['tls']} {r['cipher']} "
                  f"alpn={r['alpn']} resumption={r['resumed']} TLS1.2={r['tls12']} "
                  f"noalpn={r.get('noalpn', '?')}{h2} same={r.get('same', '?')}")
            # the load tools must get the protocol they speak, and the answers the origin's
            probs = []
            if r["alpn"] != "http/1.1":
                probs.append(f"ALPN {r['alpn']} for an http/1.1 client")
            if r.get("noalpn", "200/1024/-") != "200/1024/-":
                probs.append(f"client without ALPN got {r.get('noalpn')}")
            if r.get("h2alpn", "-") != "-" and (r["h2alpn"] != "h2" or r.get("h2") != "2:200/1024,2:200/16384"):
                probs.append(f"HTTP/2 not served (ALPN {r['h2alpn']}, curl --http2 {r.get('h2')})")
            if r.get("same", "yes") != "yes":
                probs.append(f"answers differ ({r['same']})")
            if probs:
                errors.append(f"ERROR: preflight: {r['frontend']}: " + "; ".join(probs))
        ciphers = {r["cipher"] for r in p}
        if len(ciphers) > 1:
            print("  NOTE: the frontends negotiated different ciphers: " + ", ".join(sorted(ciphers)))
    if notes or errors:
        print()
    for n in dict.fromkeys(notes):
        print(n)
    for e in errors:
        print(e)
    return 3 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
