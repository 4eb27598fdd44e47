#!/usr/bin/env bash
# A checkout's own cost: the gateway's CPU per Checkout Session and the latency it adds over the
# Stripe call it makes, against the local fake Stripe answering at once (no added delay).
#
#   bash benches/checkout.sh
#   DURATION=15s CONNECTIONS=16 PROFILE=1 bash benches/checkout.sh
#   GATEWAY_BIN=/tmp/before/stripe-gateway FAKE_BIN=/tmp/before/fake-stripe bash benches/checkout.sh
#
# What runs: an organizer whose account the fake enabled, one product with a one-time price in
# the catalog mirror (delivered by the fake's product.created, mirrored by the workers), one
# customer. Then, with wrk:
#   1. `POST /v1/organizers/{org}/checkout-sessions` {customer_id, mode: payment, one line of
#      that price, urls} at 1 connection: the gateway's latency per checkout, one at a time;
#   2. the fake's own `POST /v1/checkout/sessions` with the same form parameters the gateway
#      sends, at 1 connection: what the Stripe call alone costs here. (1) − (2) is what the
#      gateway adds: its reads, the mirror write with its audit row, JSON, auth;
#   3. (1) again at CONNECTIONS connections: checkouts/s and the gateway's CPU per checkout
#      (utime + stime from /proc over the run, divided by the sessions created), the fake's
#      CPU per session beside it.
# Every answer must be 201 (wrk's non-2xx count is printed and fails the run). PROFILE=1 samples
# the gateway with perf during (3) and prints its top functions (that run is then slower).
#
# Uses a fresh database `gateway_checkout` on the local PostgreSQL (127.0.0.1:5432), a release
# build and the fake Stripe (examples/fake-stripe.rs); no Stripe account.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-16}"
PORT="${PORT:-18094}"
FAKE_PORT="${FAKE_PORT:-18095}"
PROFILE="${PROFILE:-}"
ADMIN_URL="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DATABASE_URL="${CHECKOUT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gateway_checkout}"
ORGANIZER=0193a7c0-0000-7000-8000-00000000c001
ACCOUNT=acct_1CheckoutBench
WORK="$(mktemp -d)"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -z "${GATEWAY_BIN:-}" ] || [ -z "${FAKE_BIN:-}" ]; then
    cargo build --release --locked --quiet --bin stripe-gateway --example fake-stripe
fi
binary="${GATEWAY_BIN:-$(pwd)/target/release/stripe-gateway}"
fake_binary="${FAKE_BIN:-$(pwd)/target/release/examples/fake-stripe}"

"$fake_binary" --port "$FAKE_PORT" --webhook-url "http://127.0.0.1:$PORT/webhooks/stripe" \
    --webhook-secret whsec_bench >"$WORK/fake.log" 2>&1 &
fake=$!
trap 'kill "$fake" 2>/dev/null || true' EXIT
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS gateway_checkout WITH (FORCE)" -c "CREATE DATABASE gateway_checkout" >/dev/null
common_env=(PATH="$PATH" DATABASE_URL="$DATABASE_URL" STRIPE_SECRET_KEY=sk_test_bench
    STRIPE_API_BASE="http://127.0.0.1:$FAKE_PORT" AUDIT_HASH_KEY=bench JWT_SECRET=bench LOG_FORMAT=json RUST_LOG=warn)
env -i "${common_env[@]}" "$binary" migrate >/dev/null
psql "$DATABASE_URL" -qc "INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
    VALUES ('$ORGANIZER', 'Checkout', '$ACCOUNT', 'active', now(), now())"

# Stripe's rate budget is the fake's to bear here: high enough never to be what limits.
env -i "${common_env[@]}" RECONCILE_INTERVAL_SECS=0 DATABASE_POOL_SIZE=10 BACKFILL_ON_REGISTER=false \
    STRIPE_WEBHOOK_SECRETS=whsec_bench STRIPE_RATE_LIMIT=100000 \
    "$binary" serve --bind "127.0.0.1:$PORT" >"$WORK/gateway.log" 2>&1 &
gateway=$!
trap 'kill "$gateway" "$fake" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(env -i "${common_env[@]}" "$binary" token --role admin --ttl-secs 7200)
gw="http://127.0.0.1:$PORT/v1/organizers/$ORGANIZER"
auth=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json')

wait_for() {
    for _ in $(seq 100); do
        out=$(eval "$1") && [ -n "$out" ] && [ "$out" != null ] && { echo "$out"; return 0; }
        sleep 0.1
    done
    echo "timed out: $1" >&2
    return 1
}

# The account enabled, a product with a price, a customer: each through the fake and the API.
curl -fsS "http://127.0.0.1:$FAKE_PORT/_fake/trigger" -H 'Content-Type: application/json' \
    -d "{\"type\": \"account.updated\", \"account\": \"$ACCOUNT\"}" >/dev/null
wait_for "curl -fsS '$gw' -H 'Authorization: Bearer $token' | jq -c 'select(.account.charges_enabled) | .id'" >/dev/null
curl -fsS "http://127.0.0.1:$FAKE_PORT/_fake/trigger" -H 'Content-Type: application/json' \
    -d "{\"type\": \"product.created\", \"account\": \"$ACCOUNT\"}" >/dev/null
price=$(wait_for "curl -fsS '$gw/products' -H 'Authorization: Bearer $token' \
    | jq -r '[.data[].prices[] | select(.recurring_interval == null)][0].id'")
customer=$(curl -fsS "$gw/customers" "${auth[@]}" -d '{"email": "buyer@bench.example", "name": "Buyer"}')
customer_id=$(jq -r .id <<<"$customer")
stripe_customer=$(jq -r .stripe_customer_id <<<"$customer")
body="{\"customer_id\": \"$customer_id\", \"mode\": \"payment\", \"line_items\": [{\"price\": \"$price\", \"quantity\": 2}], \"success_url\": \"https://example.com/ok\", \"cancel_url\": \"https://example.com/cancel\"}"
first=$(curl -fsS "$gw/checkout-sessions" "${auth[@]}" -d "$body")
echo "check: one checkout -> $(jq -c '{id, customer_id, application_fee_amount}' <<<"$first")"

# The form the gateway sends for it, sent to the fake directly (the parameters of a checkout
# as payments::create_checkout_session writes them).
form="mode=payment&customer=$stripe_customer&client_reference_id=$customer_id&line_items[0][price]=$price&line_items[0][quantity]=2&success_url=https%3A%2F%2Fexample.com%2Fok&cancel_url=https%3A%2F%2Fexample.com%2Fcancel&metadata[gateway_organizer_id]=$ORGANIZER&metadata[gateway_customer_id]=$customer_id&payment_intent_data[metadata][gateway_organizer_id]=$ORGANIZER&payment_intent_data[metadata][gateway_customer_id]=$customer_id"
code=$(curl -s -o "$WORK/direct.json" -w '%{http_code}' "http://127.0.0.1:$FAKE_PORT/v1/checkout/sessions" \
    -H "Authorization: Bearer sk_test_bench" -H "Stripe-Account: $ACCOUNT" --data "$form")
[ "$code" = 200 ] || { echo "the fake refused the direct form ($code): $(cat "$WORK/direct.json")" >&2; exit 1; }

lua() { # $1: file, $2: method body content type, extra headers
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = [[$2]]
wrk.headers["Content-Type"] = "$3"
wrk.headers["Authorization"] = "$4"
${5:-}
done = function(summary, latency, requests)
  io.write(string.format("RESULT rate=%.1f p50_us=%d p90_us=%d p99_us=%d non2xx=%d errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.requests))
end
EOF
}
lua "$WORK/gateway.lua" "$body" application/json "Bearer $token"
lua "$WORK/fake.lua" "$form" application/x-www-form-urlencoded "Bearer sk_test_bench" \
    "wrk.headers[\"Stripe-Account\"] = \"$ACCOUNT\""

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # $1 label, $2 connections, $3 script, $4 url
    local out
    out=$(wrk -t1 -c"$2" -d"$DURATION" -s "$3" "$4" | grep '^RESULT')
    echo "$1: ${out#RESULT }"
    if [[ "$out" != *"non2xx=0 errors=0"* ]]; then
        echo "FAILED: $1 had non-2xx answers or socket errors" >&2
        tail -n 5 "$WORK/gateway.log" >&2
        exit 1
    fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql "$ADMIN_URL" -tAc 'SHOW server_version'); gateway $binary ($(git rev-parse --short HEAD) checked out)"
wrk -t1 -c1 -d3s -s "$WORK/gateway.lua" "$gw/checkout-sessions" >/dev/null # warm-up
run "gateway checkout, 1 connection" 1 "$WORK/gateway.lua" "$gw/checkout-sessions"
run "fake's own session, 1 connection" 1 "$WORK/fake.lua" "http://127.0.0.1:$FAKE_PORT/v1/checkout/sessions"

sessions_before=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM checkout_sessions")
gateway_before=$(cpu_ticks "$gateway")
fake_before=$(cpu_ticks "$fake")
if [ -n "$PROFILE" ]; then
    perf record -F 499 -g -p "$gateway" -o "$WORK/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
fi
run "gateway checkout, $CONNECTIONS connections" "$CONNECTIONS" "$WORK/gateway.lua" "$gw/checkout-sessions"
if [ -n "$PROFILE" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
fi
gateway_after=$(cpu_ticks "$gateway")
fake_after=$(cpu_ticks "$fake")
sessions=$(( $(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM checkout_sessions") - sessions_before ))
hz=$(getconf CLK_TCK)
awk -v g=$((gateway_after - gateway_before)) -v f=$((fake_after - fake_before)) -v n="$sessions" -v hz="$hz" \
    'BEGIN { printf "CPU per checkout (%d sessions): gateway %.0f us, fake %.0f us\n", n, g / hz / n * 1e6, f / hz / n * 1e6 }'
grep VmHWM "/proc/$gateway/status"
if [ -n "$PROFILE" ]; then
    echo "top functions of the gateway by self time:"
    perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9]' | head -n 25
fi
