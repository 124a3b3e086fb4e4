#!/usr/bin/env python3
"""h2load_result.py STDOUT_FILE LOG_FILE [WARMUP_S]: one "RESULT key=value ..." line (the format of
lib/wrk.lua) from an `h2load --h1 --rps ... --log-file LOG_FILE` run, for bench/run.sh.

requests and rate come from h2load's summary (main phase, after the warm-up; duration_us =
requests / rate, as h2load's "finished in" time includes the warm-up);
p50/p90/p99/max from the per-request log (start-µs, status, duration-µs per line; requests of
the main phase only).  Errors: err_status = 3xx + 4xx + 5xx answers; err_read = h2load's
"errored" requests, err_timeout = its "timeout" ones, plus requests it reports failed for any
other reason.  Prints nothing (and exits 1) when h2load's summary is missing.
"""

import re
import sys


def pctl(vals, p):
    if not vals:
        return 0
    return vals[int(round(p / 100.0 * (len(vals) - 1)))]


def main():
    text = open(sys.argv[1], errors="replace").read()
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if not (m and r and s):
        print("h2load_result: no h2load summary in " + sys.argv[1], file=sys.stderr)
        return 1
    # "finished in" includes the warm-up; its req/s is over the main phase, like the counts
    rate = float(m.group(3))
    total, started, done, succeeded, failed, errored, timeout = (int(x) for x in r.groups())
    x2, x3, x4, x5 = (int(x) for x in s.groups())
    non2xx = x3 + x4 + x5
    # "failed" includes errored, timed out and 4xx/5xx answers; anything else failed is a socket error
    other = max(0, failed - errored - timeout - x4 - x5)
    lat = []
    try:
        with open(sys.argv[2]) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
    except OSError:
        pass
    lat.sort()
    dur_s = done / rate if rate > 0 else 0.0
    print(f"RESULT requests={done} duration_us={dur_s * 1e6:.0f} err_connect=0 err_read={errored + other} "
          f"err_write=0 err_status={non2xx} err_timeout={timeout} p50_us={pctl(lat, 50)} "
          f"p90_us={pctl(lat, 90)} p99_us={pctl(lat, 99)} max_us={lat[-1] if lat else 0} "
          f"logged={len(lat)} total={total} started={started} succeeded={succeeded} status_2xx={x2}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
