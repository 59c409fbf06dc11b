-- wrk script: every request carries the headers Heroku's router adds to a request it received over
-- HTTPS (see tests/support/dyno.py router_headers), with a unique X-Request-Id and X-Request-Start set to
-- the moment wrk builds the request, in milliseconds since the epoch. At the end it prints one line
-- "BENCH_JSON {...}" that bench/bench.py reads.
--
-- The path comes from the URL given to wrk.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")

local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return string.format("%d", tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000))
end

local threads = {}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  -- 32 hex characters per run and thread, then a counter: unique per request, and within the
  -- alphabet and length (20 to 200) of the router's ids.
  math.randomseed(os.time() + (thread_number or 0) * 7919)
  local parts = {}
  for i = 1, 4 do
    parts[i] = string.format("%08x", math.random(0, 0x7fffffff))
  end
  prefix = table.concat(parts) .. "-" .. tostring(thread_number or 0) .. "-"
end

local headers = {
  ["Host"] = "localhost",
  ["X-Forwarded-Proto"] = "https",
  ["X-Forwarded-For"] = "203.0.113.7",
  ["X-Forwarded-Port"] = "443",
  ["Accept-Encoding"] = "gzip, deflate, br",
  ["User-Agent"] = "wrk (herokuapp bench)",
}

function request()
  counter = counter + 1
  headers["X-Request-Id"] = prefix .. counter
  headers["X-Request-Start"] = now_ms()
  return wrk.format("GET", nil, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
