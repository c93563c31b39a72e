-- bench/wrk_report.lua: wrk's summary as one machine-readable line for the
-- benchmark scripts (requests/s, latency percentiles in microseconds, and
-- every kind of failed request: socket errors and non-2xx/3xx answers).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT rps=%.1f p50=%d p99=%d p999=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
