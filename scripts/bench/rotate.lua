-- wrk script for scripts/bench.sh.
--
-- With BENCH_COOKIES set (a file with one `name=value` cookie per line), every
-- request carries one of those session cookies, round-robin. Thread i of
-- BENCH_THREADS takes cookies i, i+T, i+2T, ... so no two threads share a
-- session, and within a thread a session comes round again only after all the
-- thread's other sessions. Without BENCH_COOKIES every request is a first
-- visit (no cookie).
--
-- With BENCH_CLIENTS set to N (the app stands behind a trusted proxy, see
-- bench.sh), every request also says which of N client addresses it comes
-- from, `X-Forwarded-For: 10.T.x.y`, T the thread: a cookie keeps one address,
-- and first visits cycle through the thread's N addresses, as many browsers
-- would. (The app allows each address 60 new sessions at once, then one a
-- second: from one address the first-visit scenario would measure 429s.)
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

local clients = tonumber(os.getenv("BENCH_CLIENTS") or "0")

local requests = nil
local index = 1

-- The headers of a request from client number n of this thread.
local function headers_for(n, cookie)
   local headers = {}
   if cookie then
      headers["Cookie"] = cookie
   end
   if clients > 0 then
      local c = n % clients
      headers["X-Forwarded-For"] = string.format("10.%d.%d.%d",
         tonumber(thread_id or 0) % 256, math.floor(c / 256) % 256, c % 256)
   end
   return headers
end

-- Built lazily, inside the thread's own Lua state, after wrk.init has set the
-- Host header (wrk also calls request() once in the main state to check it).
local function build_requests()
   local mine = tonumber(thread_id or 0)
   requests = {}
   local n = 0
   for line in io.lines(cookie_file) do
      if line ~= "" then
         if n % threads == mine then
            requests[#requests + 1] = wrk.format(nil, nil, headers_for(#requests, line))
         end
         n = n + 1
      end
   end
   if #requests == 0 then
      error("no cookies for thread " .. mine .. " in " .. cookie_file)
   end
end

-- First visits from many clients: one request per client address, no cookie.
local function build_first_visits()
   requests = {}
   for n = 0, clients - 1 do
      requests[#requests + 1] = wrk.format(nil, nil, headers_for(n, nil))
   end
end

if (cookie_file and cookie_file ~= "") or clients > 0 then
   function request()
      if requests == nil then
         if cookie_file and cookie_file ~= "" then
            build_requests()
         else
            build_first_visits()
         end
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
