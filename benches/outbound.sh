#!/usr/bin/env bash
# The gateway's webhook senders against local receivers (benches/outbound.py says what is
# measured and how): deliveries/s to 1 and 20 endpoints, the drain of a down receiver's backlog,
# commit-to-receipt latency at a steady rate alone and beside a down endpoint, the whole path
# from a Stripe event (the local fake Stripe's) to the app's receipt at that rate, peak RSS.
#
#   bash benches/outbound.sh
#   RATE=500 SECONDS_=20 DOWN_MINUTES=10 BACKLOG=20000 WORKERS=8 bash benches/outbound.sh
#   PHASES=e2e INBOX_WORKERS=4 CUSTOMERS=1000 bash benches/outbound.sh   # the end-to-end phase only
#
# FIGURES: see the README's benchmark section (and the closing note of the issue that added it).
#
# Uses a fresh database `gateway_outbound` on the local PostgreSQL at 127.0.0.1:5432, a release
# build and the fake Stripe (`examples/fake-stripe.rs`); no Stripe account.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE="${RATE:-500}"
SECONDS_="${SECONDS_:-20}"
DOWN_MINUTES="${DOWN_MINUTES:-10}"
BACKLOG="${BACKLOG:-20000}"
WORKERS="${WORKERS:-8}"
PORT="${PORT:-18092}"
FAKE_PORT="${FAKE_PORT:-18093}"
CUSTOMERS="${CUSTOMERS:-1000}"
PHASES="${PHASES:-senders,e2e}"
INBOX_WORKERS="${INBOX_WORKERS:-4}"
ADMIN_URL="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DATABASE_URL="${OUTBOUND_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gateway_outbound}"
ORGANIZER=0193a7c0-0000-7000-8000-00000000b001
ACCOUNT=acct_1OutboundBench

cargo build --release --locked --quiet --bin stripe-gateway --example fake-stripe
binary="$(pwd)/target/release/stripe-gateway"
target/release/examples/fake-stripe --port "$FAKE_PORT" --webhook-url "http://127.0.0.1:$PORT/webhooks/stripe" \
    --webhook-secret whsec_bench >/tmp/gateway_outbound_fake.log 2>&1 &
fake=$!
trap 'kill "$fake" 2>/dev/null || true' EXIT
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS gateway_outbound" -c "CREATE DATABASE gateway_outbound" >/dev/null
common_env=(PATH="$PATH" DATABASE_URL="$DATABASE_URL" STRIPE_SECRET_KEY=sk_test_bench
    STRIPE_API_BASE="http://127.0.0.1:$FAKE_PORT" AUDIT_HASH_KEY=bench JWT_SECRET=bench LOG_FORMAT=json RUST_LOG=warn)
env -i "${common_env[@]}" "$binary" migrate >/dev/null
psql "$DATABASE_URL" -qc "INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
    VALUES ('$ORGANIZER', 'Outbound', '$ACCOUNT', 'active', now(), now())"

# Stripe's rate budget is the fake's to bear here: high enough never to be what limits.
env -i "${common_env[@]}" OUTBOUND_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 OUTBOUND_WEBHOOK_WORKERS="$WORKERS" \
    RECONCILE_INTERVAL_SECS=0 DATABASE_POOL_SIZE=10 BACKFILL_ON_REGISTER=false \
    STRIPE_WEBHOOK_SECRETS=whsec_bench STRIPE_RATE_LIMIT=100000 STRIPE_BACKGROUND_PERCENT=90 \
    WORKER_CONCURRENCY="$INBOX_WORKERS" WORKER_POLL_MS="${WORKER_POLL_MS:-1000}" \
    "$binary" serve --bind "127.0.0.1:$PORT" >/tmp/gateway_outbound.log 2>&1 &
gateway=$!
trap 'kill "$gateway" "$fake" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
token=$(env -i "${common_env[@]}" "$binary" token --role admin --ttl-secs 7200)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(psql "$ADMIN_URL" -tAc 'SHOW server_version'); commit $(git rev-parse --short HEAD)"
echo "senders: OUTBOUND_WEBHOOK_WORKERS=$WORKERS; WORKER_CONCURRENCY=$INBOX_WORKERS; events at $RATE/s for $SECONDS_ s; backlog $BACKLOG; down $DOWN_MINUTES min; $CUSTOMERS customers"
python3 benches/outbound.py --database-url "$DATABASE_URL" --gateway "http://127.0.0.1:$PORT" \
    --token "$token" --organizer "$ORGANIZER" --pid "$gateway" --rate "$RATE" --seconds "$SECONDS_" \
    --down-minutes "$DOWN_MINUTES" --backlog "$BACKLOG" --fake "http://127.0.0.1:$FAKE_PORT" \
    --account "$ACCOUNT" --customers "$CUSTOMERS" --phases "$PHASES"
