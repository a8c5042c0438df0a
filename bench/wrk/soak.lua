-- The wrk script of bench/soak.py. Each connection cycles through a fixed list of requests and
-- every answer is counted by its status code, so that the driver can tell intended statuses
-- (404 while a churned route is absent, 401 without a key, 429 under a policy) from the rest.
-- Configured through the environment:
--   SOAK_REQUESTS="PATH|HEADER:VALUE;PATH;..."
--                 the requests to cycle through, GET each; an optional header after "|"
-- At the end it prints one line, "SOAK_JSON {...}", with the request count, the socket errors,
-- the count per status code and the latency percentiles in microseconds.

local spec = os.getenv("SOAK_REQUESTS") or "/"

local function parse(text)
  local list = {}
  for item in string.gmatch(text, "[^;]+") do
    local path, header = string.match(item, "^([^|]*)|(.*)$")
    local entry = {path = path or item, headers = {}}
    if header then
      local name, value = string.match(header, "^([^:]+):%s*(.*)$")
      if name then entry.headers[name] = value end
    end
    list[#list + 1] = entry
  end
  return list
end

local threads = {}
local thread_counter = 0

function setup(thread)
  thread:set("thread_id", thread_counter)
  thread_counter = thread_counter + 1
  table.insert(threads, thread)
end

local requests = {}
local next_index = 0

function init(args)
  statuses = {}
  for i, entry in ipairs(parse(spec)) do
    requests[i] = wrk.format("GET", entry.path, entry.headers)
  end
  -- Threads start at different places in the list, so that every request is in flight at once.
  next_index = (thread_id or 0) % #requests
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_summary)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, count in pairs(counts) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    parts[#parts + 1] = string.format('"%d":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_JSON {"requests":%d,"duration_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"statuses":{%s},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","),
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
