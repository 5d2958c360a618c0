-- wrk script for scripts/bench.sh.
--
-- With BENCH_COOKIES set (a file with one `name=value` cookie per line), every
-- request carries one of those session cookies, round-robin. Thread i of
-- BENCH_THREADS takes cookies i, i+T, i+2T, ... so no two threads share a
-- session, and within a thread a session comes round again only after all the
-- thread's other sessions. Without BENCH_COOKIES, `request` is not defined and
-- wrk sends its one static request (no cookie: first visits).
--
-- `done` prints one machine-readable line that bench.sh parses:
--   BENCH requests=... duration_us=... p50_us=... p99_us=... ... status=...
-- wrk counts responses with a status of 400 or more in `errors.status`.

local cookie_file = os.getenv("BENCH_COOKIES")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")

-- setup() runs in the main Lua state once per thread, before the threads start.
local next_thread_id = 0
function setup(thread)
   thread:set("thread_id", next_thread_id)
   next_thread_id = next_thread_id + 1
end

local requests = nil
local index = 1

-- Built lazily, inside the thread's own Lua state, after wrk.init has set the
-- Host header (wrk also calls request() once in the main state to check it).
local function build_requests()
   local mine = tonumber(thread_id or 0)
   requests = {}
   local n = 0
   for line in io.lines(cookie_file) do
      if line ~= "" then
         if n % threads == mine then
            requests[#requests + 1] = wrk.format(nil, nil, { ["Cookie"] = line })
         end
         n = n + 1
      end
   end
   if #requests == 0 then
      error("no cookies for thread " .. mine .. " in " .. cookie_file)
   end
end

if cookie_file and cookie_file ~= "" then
   function request()
      if requests == nil then
         build_requests()
      end
      local r = requests[index]
      index = index % #requests + 1
      return r
   end
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d mean_us=%d max_us=%d "
         .. "connect=%d read=%d write=%d timeout=%d status=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), math.floor(latency.mean), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
end
