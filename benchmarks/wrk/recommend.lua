-- wrk script for benchmarks/http_load.py: every request a different catalog song, read from the
-- file named by WRK_PATHS (one request path per line). Each of wrk's threads starts at its own
-- offset in the list and stops after its share of WRK_REQUESTS (WRK_THREADS threads). With
-- WRK_RATE (requests/s in all) set, each thread sends on a fixed schedule of WRK_RATE/WRK_THREADS
-- requests/s (delay() waits for the next slot; wrk keeps one Lua state per thread, shared by its
-- connections), so the offered rate stays below the server's capacity and latency shows
-- service time rather than queueing. Prints p50/p99 and
-- non-200 counts as one JSON line for the Python side.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec;
int clock_gettime(int clk_id, timespec *tp);
]]
local ts = ffi.new("timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local rate = tonumber(os.getenv("WRK_RATE") or "0")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  index = (id - 1) * 7919 % #paths
  bad = 0
  done_count = 0
  first_at, last_at = 0, 0
  quota = math.ceil(tonumber(os.getenv("WRK_REQUESTS") or "1e12") / tonumber(os.getenv("WRK_THREADS") or "1"))
  interval = rate > 0 and 1000 * tonumber(os.getenv("WRK_THREADS") or "1") / rate or 0
  next_at = nil
end

function delay()
  if interval == 0 then return 0 end
  local t = now_ms()
  if next_at == nil then next_at = t + math.random() * interval end
  next_at = next_at + interval
  local wait = next_at - t
  return wait > 0 and wait or 0
end

function request()
  if first_at == 0 then first_at = now_ms() end
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  done_count = done_count + 1
  last_at = now_ms()
  if done_count == quota then
    -- wrk itself runs for its whole -d: tell the Python side, which then ends it with SIGINT
    io.write("thread done\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  -- wrk's own rate divides by -d even when every thread stopped early: time the requests here
  local bad_total, first, last = 0, math.huge, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    first = math.min(first, t:get("first_at"))
    last = math.max(last, t:get("last_at"))
  end
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non_200": %d, "socket_errors": %d}\n',
    summary.requests, (last - first) / 1000, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
