-- wrk script for the customer requests of benches/customers.sh, one per call of request():
--   `-- find`    GET  /v1/organizers/{org}/customers?email=user<n>@example.com
--   `-- entitlements`  GET /v1/organizers/{org}/customers/{id}/entitlements of customer n (the
--                benchmark seeds ids 00000000-0000-7000-8000-<n, 12 digits>)
--   `-- upsert`  POST /v1/organizers/{org}/customers {"email": "user<n>@example.com"}, an upsert
--                of an existing customer with no changed field (200 from the database)
--   `-- first`   the same upsert with an Idempotency-Key never sent before: the key is stored
--                with its answer (a first request)
--   `-- replay`  the same upsert with key `replay-<n>`, n in 1..100, sent once before the run
--                (benches/customers.sh does): every answer is the kept one, replayed
-- Environment: BENCH_ORG (organizer id), BENCH_TOKEN (bearer JWT), BENCH_CUSTOMERS (n is drawn
-- from 1..BENCH_CUSTOMERS), BENCH_EMAILS (`random`, the default: a random n per request;
-- `fixed`: always user1). Runnable by hand:
--   BENCH_ORG=... BENCH_TOKEN=... wrk -s benches/customers.lua http://127.0.0.1:8080 -- find
local org = assert(os.getenv("BENCH_ORG"), "BENCH_ORG is not set")
local token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "10000")
local fixed = os.getenv("BENCH_EMAILS") == "fixed"
local path = "/v1/organizers/" .. org .. "/customers"
local mode

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

-- Each wrk thread gets its own random sequence, and counts the statuses it got.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

ok, unavailable, other, replayed = 0, 0, 0, 0
function response(status, headers)
  if headers["Idempotent-Replayed"] == "true" or headers["idempotent-replayed"] == "true" then
    replayed = replayed + 1
  end
  if status == 200 then
    ok = ok + 1
  elseif status == 503 then
    unavailable = unavailable + 1
  else
    other = other + 1
  end
end

function done()
  local counts = { ok = 0, unavailable = 0, other = 0, replayed = 0 }
  for _, thread in ipairs(threads) do
    for key in pairs(counts) do
      counts[key] = counts[key] + thread:get(key)
    end
  end
  io.write(string.format("statuses: 200=%d 503=%d other=%d replayed=%d\n", counts.ok, counts.unavailable, counts.other, counts.replayed))
end

local modes = { find = true, entitlements = true, upsert = true, first = true, replay = true }
local prefix, sent = "", 0
function init(args)
  mode = args[1]
  assert(modes[mode], "pass `-- find`, `-- entitlements`, `-- upsert`, `-- first` or `-- replay` after the URL")
  math.randomseed(os.time() * 1000 + (thread_no or 0))
  -- Keys of `first` are unique across threads and runs.
  prefix = string.format("first-%d-%d-%d-", os.time(), thread_no or 0, math.random(1, 1000000000))
end

local function keyed(key, body)
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = key
  return wrk.format("POST", path, headers, body)
end

function request()
  local n = fixed and 1 or math.random(1, customers)
  if mode == "find" then
    return wrk.format("GET", path .. "?email=user" .. n .. "%40example.com")
  elseif mode == "entitlements" then
    return wrk.format("GET", path .. string.format("/00000000-0000-7000-8000-%012d/entitlements", n))
  elseif mode == "replay" then
    n = math.random(1, 100)
    return keyed("replay-" .. n, '{"email": "user' .. n .. '@example.com"}')
  end
  local body = '{"email": "user' .. n .. '@example.com"}'
  if mode == "first" then
    sent = sent + 1
    return keyed(prefix .. sent, body)
  end
  return wrk.format("POST", path, nil, body)
end
