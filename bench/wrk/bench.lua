-- The wrk script for every scenario of bench/bench.py. Configured through the environment, so
-- that one script serves all of them:
--   BENCH_BODY_BYTES=N       send N bytes as the request body (with BENCH_METHOD=POST)
--   BENCH_METHOD=M           request method (default GET)
--   BENCH_PATH_PREFIX=/r/ BENCH_PATH_COUNT=K
--                            spread requests over /r/0 .. /r/K-1 (scenario 5), in an order
--                            that differs per thread
--   BENCH_DELAY_MS=D         after each response, wait D ms before the connection's next request
--                            (scenario 8: a paced, moderate load instead of as fast as possible)
-- At the end it prints one line, "BENCH_JSON {...}", with the request count, the socket errors,
-- the non-2xx/3xx answers and the latency percentiles in microseconds, for the driver to parse.

local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then wrk.method = method end

local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0")
if body_bytes > 0 then
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

local path_prefix = os.getenv("BENCH_PATH_PREFIX")
local path_count = tonumber(os.getenv("BENCH_PATH_COUNT") or "0")

if path_prefix and path_prefix ~= "" and path_count > 0 then
  -- Requests are formatted once in init(); request() only picks the next one. Walking the paths
  -- with a stride coprime to the count touches every route, in a scattered order.
  local requests = {}
  local next_index = 0
  local stride = 7919  -- prime; coprime to any count that is not a multiple of it

  local thread_counter = 0
  function setup(thread)
    thread:set("thread_id", thread_counter)
    thread_counter = thread_counter + 1
  end

  function init(args)
    for i = 0, path_count - 1 do
      requests[i + 1] = wrk.format(nil, path_prefix .. i)
    end
    next_index = ((thread_id or 0) * 104729) % path_count
  end

  function request()
    next_index = (next_index + stride) % path_count
    return requests[next_index + 1]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
