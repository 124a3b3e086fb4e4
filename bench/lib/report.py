#!/usr/bin/env python3
"""Summary table of one bench/run.sh run: report.py OUT_DIR (reads results.tsv, preflight.tsv)."""

import csv
import os
import sys

SCENARIOS = [
    ("get_ka", "keep-alive GET 1 KiB"),
    ("post_ka", "keep-alive POST 16 KiB"),
    ("close", "GET + Connection: close"),
    ("idle", "idle TLS connections"),
]
# (column, label, format, higher_is_better)
LOAD_METRICS = [
    ("rps", "req/s", "{:,.0f}", True),
    ("p50_ms", "p50 latency ms", "{:.2f}", False),
    ("p99_ms", "p99 latency ms", "{:.2f}", False),
    ("cpu_us_per_req", "CPU us/req", "{:.1f}", False),
    ("fe_cpu_pct", "frontend core %", "{:.0f}", None),
    ("load_core_busy_pct", "load core %", "{:.0f}", None),
    ("errors", "errors", "{:.0f}", None),
]
IDLE_METRICS = [
    ("kib_per_conn_handshake", "KiB/conn, handshake", "{:.1f}", False),
    ("kib_per_conn_request", "KiB/conn, +1 request", "{:.1f}", False),
    ("idle_failures", "failed conns", "{:.0f}", None),
]
SUBJECT = "mcxproxy"


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "results.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    last = {}
    frontends = []
    for r in rows:
        if r["frontend"] not in frontends:
            frontends.append(r["frontend"])
        if r["scenario"] != "idle":
            r["errors"] = str(int(num(r["sock_errors"]) or 0) + int(num(r["non2xx"]) or 0))
        last[(r["frontend"], r["scenario"])] = r     # the final attempt counts
    others = [f for f in frontends if f != SUBJECT] if SUBJECT in frontends else []

    header = ["scenario", "metric"] + frontends + [f"{SUBJECT}/{o}" for o in others]
    table = [header]
    notes = []
    for scn, title in SCENARIOS:
        if not any((f, scn) in last for f in frontends):
            continue
        metrics = IDLE_METRICS if scn == "idle" else LOAD_METRICS
        for i, (col, label, fmt, better) in enumerate(metrics):
            line = [title if i == 0 else "", label]
            vals = {}
            for f in frontends:
                r = last.get((f, scn))
                v = num(r.get(col)) if r else None
                vals[f] = v
                cell = fmt.format(v) if v is not None else "-"
                if r and r.get("fe_alive") == "no" and i == 0:
                    cell += " (died)"
                    notes.append(f"WARNING: {f} exited during {scn} (see run/{f}.out)")
                if r and (r.get("quiet") == "0" or r.get("disturbed") == "1") and i == 0:
                    cell += " *"
                line.append(cell)
            if col == "fe_cpu_pct":
                for f in frontends:
                    r = last.get((f, scn))
                    if not r:
                        continue
                    # our own use of the load core: origin + load tool (foreign load excluded)
                    fe, og, tl = num(r.get("fe_cpu_pct")), num(r.get("origin_cpu_pct")), num(r.get("tool_cpu_pct"))
                    if fe is not None and og is not None and tl is not None and fe < 50 and og + tl < 60:
                        notes.append(f"NOTE: {f} {scn}: neither core was busy (frontend {fe:.0f}%, origin + wrk {og + tl:.0f}%): "
                                     "requests wait inside the frontend (latency-bound, e.g. Nagle/delayed ACK), "
                                     "and CPU us/req reads high at such low load")
            for o in others:
                a, b = vals.get(SUBJECT), vals.get(o)
                if better is None or a is None or not b:
                    line.append("")
                else:
                    line.append(f"{a / b:.2f}")
            table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for n, r in enumerate(table):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print("Ratios: req/s higher is better (>1: mcxproxy faster); latency, CPU us/req and KiB/conn lower")
    print("is better (<1: mcxproxy cheaper).  CPU us/req = frontend utime+stime / requests (for")
    print("'Connection: close' that is per connection, TLS 1.3 resumed by wrk).  * = another process")
    print("was busy on a core during the step (machine not quiet, or foreign load above OTHER_MAX).")
    pre = os.path.join(out, "preflight.tsv")
    if os.path.exists(pre):
        with open(pre, newline="") as f:
            p = list(csv.DictReader(f, delimiter="\t"))
        print()
        print("Preflight (status/bytes through each frontend, TLS a default client negotiates):")
        for r in p:
            print(f"  {r['frontend']:<9} GET {r['get']}  POST {r['post']}  {r['tls']} {r['cipher']} "
                  f"alpn={r['alpn']} resumption={r['resumed']} TLS1.2={r['tls12']}")
        ciphers = {r["cipher"] for r in p}
        if len(ciphers) > 1:
            print("  NOTE: the frontends negotiated different ciphers: " + ", ".join(sorted(ciphers)))
    if notes:
        print()
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
