-- wrk script: GET /v1/organizers/{org}/customers?email=user<n>@example.com
-- Environment: BENCH_ORG (organizer id), BENCH_TOKEN (bearer JWT), BENCH_CUSTOMERS (n is drawn
-- from 1..BENCH_CUSTOMERS), BENCH_EMAILS (`random`, the default: a random n per request;
-- `fixed`: always user1). Used by benches/customers.sh; runnable by hand:
--   BENCH_ORG=... BENCH_TOKEN=... BENCH_CUSTOMERS=10000 wrk -s benches/get_customer.lua http://127.0.0.1:8080
local org = assert(os.getenv("BENCH_ORG"), "BENCH_ORG is not set")
local token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "10000")
local fixed = os.getenv("BENCH_EMAILS") == "fixed"
local path = "/v1/organizers/" .. org .. "/customers?email=user"

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token

-- Each wrk thread gets its own random sequence.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end

function request()
  local n = fixed and 1 or math.random(1, customers)
  return wrk.format(nil, path .. n .. "%40example.com")
end
