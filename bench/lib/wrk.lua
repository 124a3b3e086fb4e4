-- wrk script for bench/run.sh.
--   BENCH_METHOD      GET (default) or POST
--   BENCH_BODY_BYTES  request body size for POST (0 = none)
--   BENCH_CLOSE       1: send "Connection: close" (one connection per request)
-- The URL (scheme, host, port, path) comes from wrk's command line.
-- done() prints one machine-readable line, "RESULT key=value ...", latencies in microseconds.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0") or 0
if body_bytes > 0 then
   wrk.body = string.rep("x", body_bytes)            -- wrk adds Content-Length
   wrk.headers["Content-Type"] = "application/octet-stream"
end
if os.getenv("BENCH_CLOSE") == "1" then
   wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d " ..
      "err_write=%d err_status=%d err_timeout=%d p50_us=%d p90_us=%d p99_us=%d " ..
      "max_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
