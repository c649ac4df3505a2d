-- wrk script: only a done() hook (no per-request Lua, so wrk stays as fast as
-- without a script). Prints one machine-readable line; latencies in µs.
-- `status` is wrk's "Non-2xx or 3xx responses"; connect/read/write/timeout
-- are its "Socket errors".
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50=%d p90=%d p99=%d max=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
