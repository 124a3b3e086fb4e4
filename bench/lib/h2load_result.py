#!/usr/bin/env python3
"""h2load_result.py [--alpn PROTO] [--clients N] STDOUT_FILE LOG_FILE: one "RESULT key=value ..."
line (the format of lib/wrk.lua) from an h2load run with --log-file LOG_FILE, for bench/run.sh:
`h2load --h1 --rps ... --warm-up-time ...` (latency) or `h2load -c N -m M -D S --npn-list=h2`
(get_h2).

requests and rate come from h2load's summary (main phase, after any warm-up; duration_us =
requests / rate, as h2load's "finished in" time includes the warm-up);
p50/p90/p99/max from the per-request log (start-µs, status, duration-µs per line; requests of
the main phase only).  Errors: err_status = 3xx + 4xx + 5xx answers; err_read = h2load's
"errored" requests (in the main phase that includes the requests of a connection that broke),
err_timeout = its "timeout" ones, plus requests it reports failed for any other reason.
h2load says nothing about connections it could not open (or whose TLS handshake or ALPN failed)
in its timed mode; with --clients N: err_connect = 1 when some client completed no request at all
(per-client minimum of "req/s" = 0), or when there were no requests.  With --alpn PROTO:
err_tls = 1 when h2load did not report "Application protocol: PROTO" (it reports the first
connection's; with --npn-list=PROTO the others cannot negotiate anything else, they fail and
the client check above catches them).  TLS version, cipher and ALPN go into the line too.
Prints nothing (and exits 1) when h2load's summary is missing.
"""

import argparse
import re
import sys


def pctl(vals, p):
    if not vals:
        return 0
    return vals[int(round(p / 100.0 * (len(vals) - 1)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--alpn", help="the application protocol every connection must have negotiated")
    ap.add_argument("--clients", type=int, help="h2load -c: check that every client completed requests")
    ap.add_argument("stdout_file")
    ap.add_argument("log_file")
    a = ap.parse_args()
    text = open(a.stdout_file, errors="replace").read()
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if not (m and r and s):
        print("h2load_result: no h2load summary in " + a.stdout_file, file=sys.stderr)
        return 1
    # "finished in" includes the warm-up; its req/s is over the main phase, like the counts
    rate = float(m.group(3))
    total, started, done, succeeded, failed, errored, timeout = (int(x) for x in r.groups())
    x2, x3, x4, x5 = (int(x) for x in s.groups())
    non2xx = x3 + x4 + x5
    # "failed" includes errored, timed out and 4xx/5xx answers; anything else failed is a socket error
    other = max(0, failed - errored - timeout - x4 - x5)
    tls = re.search(r"^TLS Protocol: (\S+)", text, re.M)
    cipher = re.search(r"^Cipher: (\S+)", text, re.M)
    proto = re.search(r"^Application protocol: (\S+)", text, re.M)
    proto = proto.group(1) if proto else "-"
    err_connect = err_tls = 0
    extra = ""
    if a.alpn is not None:
        if proto != a.alpn:
            err_tls = 1
            print(f"h2load_result: application protocol '{proto}', want '{a.alpn}'", file=sys.stderr)
    if a.clients is not None:
        # per-client request rates: "req/s           :  min  max  mean  sd  +/- sd"
        c = re.search(r"^req/s\s*:\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)", text, re.M)
        cmin = float(c.group(1)) if c else 0.0
        extra += f" client_rps_min={cmin:.1f} client_rps_max={float(c.group(2)) if c else 0.0:.1f}"
        if done == 0 or cmin <= 0:
            err_connect = 1
            print(f"h2load_result: {'no requests at all' if done == 0 else 'some client completed no request'}"
                  f" ({a.clients} clients): connections failed (refused, TLS or ALPN)", file=sys.stderr)
    lat = []
    try:
        with open(a.log_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
    except OSError:
        pass
    lat.sort()
    dur_s = done / rate if rate > 0 else 0.0
    print(f"RESULT requests={done} duration_us={dur_s * 1e6:.0f} err_connect={err_connect} "
          f"err_tls={err_tls} err_read={errored + other} "
          f"err_write=0 err_status={non2xx} err_timeout={timeout} p50_us={pctl(lat, 50)} "
          f"p90_us={pctl(lat, 90)} p99_us={pctl(lat, 99)} max_us={lat[-1] if lat else 0} "
          f"logged={len(lat)} total={total} started={started} succeeded={succeeded} status_2xx={x2} "
          f"tls={tls.group(1) if tls else '-'} cipher={cipher.group(1) if cipher else '-'} alpn={proto}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
