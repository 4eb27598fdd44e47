#!/usr/bin/env bash
# How long webhook workers take to drain a backlog, and how many Stripe calls it costs:
# EVENTS events about OBJECTS products of one organizer are stored with workers off, then one
# `stripe-gateway worker` process (WORKER_CONCURRENCY=CONCURRENCY) drains them against a
# stand-in Stripe that takes DELAY seconds per call (benches/slow_stripe.py).
#
#   bash benches/drain.sh
#   EVENTS=10000 OBJECTS=1000 DELAY=0.05 CONCURRENCY="4 16" bash benches/drain.sh
#   RATE=20 bash benches/drain.sh            # under a test-mode key's default Stripe budget
#   GATEWAY_BIN=/tmp/before/stripe-gateway bash benches/drain.sh   # a prebuilt gateway
#
# The stand-in is not Stripe, so by default the rate budget (STRIPE_RATE_LIMIT=RATE, of which
# STRIPE_BACKGROUND_PERCENT=BACKGROUND may go to the workers) is set high enough not to bind
# and the workers are what is measured; with a real budget the drain takes at least
# calls / (RATE x BACKGROUND / 100) seconds.
#
# Uses PostgreSQL at $DRAIN_DATABASE_URL (default: a fresh database `gateway_drain` on the
# local cluster at 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS="${EVENTS:-10000}"
OBJECTS="${OBJECTS:-1000}"
DELAY="${DELAY:-0.05}"
CONCURRENCY="${CONCURRENCY:-4 16}"
RATE="${RATE:-1000}"
BACKGROUND="${BACKGROUND:-70}"
ADMIN_URL="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DATABASE_URL="${DRAIN_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gateway_drain}"
SECRET=whsec_drain_bench
ACCOUNT=acct_1DrainBench
STRIPE_PORT=12112
PORT=18091

if [ -n "${GATEWAY_BIN:-}" ]; then
    binary="$(cd "$(dirname "$GATEWAY_BIN")" && pwd)/$(basename "$GATEWAY_BIN")"
else
    cargo build --release --locked --quiet
    binary="$(pwd)/target/release/stripe-gateway"
fi
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

python3 benches/slow_stripe.py --port "$STRIPE_PORT" --delay "$DELAY" &
pids+=($!)

common_env=(PATH="$PATH" DATABASE_URL="$DATABASE_URL" STRIPE_SECRET_KEY=sk_test_bench
    STRIPE_API_BASE="http://127.0.0.1:$STRIPE_PORT" AUDIT_HASH_KEY=bench LOG_FORMAT=json
    RUST_LOG=warn STRIPE_MAX_RETRIES=0 STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT="$BACKGROUND")

echo "Stripe stand-in: $DELAY s per call; budget $RATE calls/s, $BACKGROUND % for the workers"
printf '%-12s %-10s %-10s %-12s %-14s %-12s\n' concurrency events objects "drain (s)" "events/s" "calls/event"
for concurrency in $CONCURRENCY; do
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS gateway_drain" -c "CREATE DATABASE gateway_drain" >/dev/null
    env -i "${common_env[@]}" "$binary" migrate >/dev/null
    psql "$DATABASE_URL" -qc "INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
        VALUES ('0193a7c0-0000-7000-8000-00000000d001', 'Drain', '$ACCOUNT', 'active', now(), now())"

    # Store the backlog with the workers off.
    env -i "${common_env[@]}" STRIPE_WEBHOOK_SECRETS="$SECRET" JWT_SECRET=bench RUN_WORKERS=false \
        "$binary" serve --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
    gateway=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    stored=$(python3 benches/drain.py --url "http://127.0.0.1:$PORT/webhooks/stripe" --secret "$SECRET" \
        --account "$ACCOUNT" --events "$EVENTS" --objects "$OBJECTS")
    kill "$gateway"; wait "$gateway" 2>/dev/null || true
    [ "$stored" = "$EVENTS" ] || { echo "only $stored of $EVENTS events were acknowledged" >&2; exit 1; }

    calls_before=$(curl -fsS "http://127.0.0.1:$STRIPE_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])')
    start=$(date +%s.%N)
    env -i "${common_env[@]}" WORKER_CONCURRENCY="$concurrency" "$binary" worker >/dev/null 2>&1 &
    worker=$!
    pids+=("$worker")
    while [ "$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM webhook_events WHERE status <> 'processed'")" != 0 ]; do
        sleep 0.05
    done
    end=$(date +%s.%N)
    kill "$worker"; wait "$worker" 2>/dev/null || true
    calls_after=$(curl -fsS "http://127.0.0.1:$STRIPE_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])')
    python3 - "$concurrency" "$EVENTS" "$OBJECTS" "$start" "$end" "$calls_before" "$calls_after" <<'EOF'
import sys
c, events, objects, start, end, before, after = sys.argv[1:]
seconds = float(end) - float(start)
calls = int(after) - int(before)
print(f"{c:<12} {events:<10} {objects:<10} {seconds:<12.2f} {int(events) / seconds:<14.0f} {calls / int(events):<12.3f}")
EOF
done
