-- wrk script for benches/backfill.sh: each request upserts a customer with an email never sent
-- before (`POST /v1/organizers/{org}/customers`), so each is one Stripe create: an interactive
-- call, measured while background work runs. Environment: BENCH_ORG, BENCH_TOKEN.
local org = assert(os.getenv("BENCH_ORG"), "BENCH_ORG is not set")
local token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
local path = "/v1/organizers/" .. org .. "/customers"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local prefix, sent = "", 0
function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0))
  prefix = string.format("i%d-%d-%d-", os.time(), thread_no or 0, math.random(1, 1000000000))
end

function request()
  sent = sent + 1
  return wrk.format(nil, path, nil, '{"email": "' .. prefix .. sent .. '@example.com"}')
end
