#!/usr/bin/env bash
# Backfill of many accounts at once against a Stripe stand-in that takes DELAY per call
# (benches/accounts_stripe.py), within the rate budget, with interactive upserts (each one Stripe
# create) measured idle and during the backfill, on PostgreSQL. Prints objects/s against the
# budget's ceiling (STRIPE_RATE_LIMIT x 100 objects per page), calls/s, the gateway's peak RSS,
# and the interactive p50/p99 idle and during.
#
# Usage (from the repository root): bash benches/backfill.sh
# Settings (environment; defaults in brackets):
#   ACCOUNTS [100] CUSTOMERS [1000] PRODUCTS [50] PRICES [100]   per account, in the stand-in
#   DELAY [0.05]            seconds per Stripe call
#   RATE [100]              STRIPE_RATE_LIMIT;  BACKGROUND [90]  STRIPE_BACKGROUND_PERCENT
#   INTERACTIVE_CONNS [4]   wrk connections of the interactive upserts; WINDOW [10s] each window
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   BENCH_DB [gateway_backfill]
set -euo pipefail
cd "$(dirname "$0")/.."

ACCOUNTS="${ACCOUNTS:-100}"; CUSTOMERS="${CUSTOMERS:-1000}"; PRODUCTS="${PRODUCTS:-50}"; PRICES="${PRICES:-100}"
DELAY="${DELAY:-0.05}"; RATE="${RATE:-100}"; BACKGROUND="${BACKGROUND:-90}"
INTERACTIVE_CONNS="${INTERACTIVE_CONNS:-4}"; WINDOW="${WINDOW:-10s}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_backfill}"
DB_URL="${PG_ADMIN_URL%/*}/$BENCH_DB"
GATEWAY=target/release/stripe-gateway
WORK="$(mktemp -d)"
PIDS=()

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    psql "$PG_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 || true
    [[ $status -ne 0 && -s "$WORK/gateway.log" ]] && tail -n 20 "$WORK/gateway.log" >&2
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

say "building"
cargo build --release --bin stripe-gateway

say "database $BENCH_DB: $ACCOUNTS organizers"
psql "$PG_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null
psql "$PG_ADMIN_URL" -qX -c "CREATE DATABASE $BENCH_DB" >/dev/null
DATABASE_URL="$DB_URL" RUST_LOG=warn "$GATEWAY" migrate >/dev/null
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at)
SELECT gen_random_uuid()::text, 'Bench ' || n, 'acct_bench' || lpad(n::text, 4, '0'), NULL, 'active',
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM generate_series(0, $ACCOUNTS - 1) AS n;
-- The organizer the interactive upserts go to: not backfilled, so its new customers stay apart.
INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at)
VALUES (gen_random_uuid()::text, 'Interactive', 'acct_interactive1', NULL, 'active',
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
SQL

STANDIN_PORT=$((20000 + RANDOM % 20000)); GATEWAY_PORT=$((STANDIN_PORT + 1))
python3 benches/accounts_stripe.py --port "$STANDIN_PORT" --accounts "$ACCOUNTS" --customers "$CUSTOMERS" \
    --products "$PRODUCTS" --prices "$PRICES" --delay "$DELAY" &
PIDS+=($!)
GATEWAY_ENV=(STRIPE_SECRET_KEY=sk_bench STRIPE_API_BASE="http://127.0.0.1:$STANDIN_PORT"
    STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT="$BACKGROUND" JWT_SECRET=bench
    AUDIT_HASH_KEY=bench DATABASE_URL="$DB_URL" DATABASE_POOL_SIZE=16 BIND_ADDRESS="127.0.0.1:$GATEWAY_PORT"
    RECONCILE_INTERVAL_SECS=0 BACKFILL_ON_REGISTER=false RUST_LOG=warn LOG_FORMAT=json)
env "${GATEWAY_ENV[@]}" "$GATEWAY" serve >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/readyz" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/readyz" || die "the gateway did not start"

ADMIN="$(JWT_SECRET=bench "$GATEWAY" token --role admin --ttl-secs 7200)"
ORGS=($(psql "$DB_URL" -qXtA -c "SELECT id FROM organizers WHERE stripe_account_id LIKE 'acct_bench%' ORDER BY stripe_account_id"))
BENCH_ORG="$(psql "$DB_URL" -qXtA -c "SELECT id FROM organizers WHERE stripe_account_id = 'acct_interactive1'")"
export BENCH_ORG BENCH_TOKEN="$ADMIN"
URL="http://127.0.0.1:$GATEWAY_PORT"
interactive() { # label -> "p50 p99 requests"
    wrk -t1 -c"$INTERACTIVE_CONNS" -d"$WINDOW" --latency -s benches/new_customers.lua "$URL" >"$WORK/$1.txt" 2>&1
    grep -q 'Non-2xx' "$WORK/$1.txt" && { cat "$WORK/$1.txt" >&2; die "interactive $1: non-2xx answers"; }
    awk '$1 == "50%" {p50=$2} $1 == "99%" {p99=$2} / requests in / {n=$1} END {print p50, p99, n}' "$WORK/$1.txt"
}
say "interactive upserts, idle"
read -r IDLE_P50 IDLE_P99 IDLE_N <<<"$(interactive idle)"

say "backfill of $ACCOUNTS accounts (POST .../sync each), interactive upserts meanwhile"
CALLS_BEFORE="$(curl -sf "http://127.0.0.1:$STANDIN_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])')"
STARTED=$(date +%s.%N)
for org in "${ORGS[@]}"; do
    curl -sf -o /dev/null -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
        -d '{"kinds": ["customers", "products", "prices", "subscriptions", "entitlements", "events"]}' \
        "$URL/v1/organizers/$org/sync" || die "starting a run"
done
read -r BUSY_P50 BUSY_P99 BUSY_N <<<"$(interactive busy)"
while :; do
    left="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM sync_runs WHERE status IN ('queued', 'running')")"
    [[ "$left" == 0 ]] && break
    sleep 0.5
done
ENDED=$(date +%s.%N)
read -r SUCCEEDED FAILED_RUNS <<<"$(psql "$DB_URL" -qXtA -F ' ' -c "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status <> 'succeeded') FROM sync_runs")"
read -r SPAN <<<"$(psql "$DB_URL" -qXtA -c "SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM sync_runs")"
read -r OBJECTS <<<"$(psql "$DB_URL" -qXtA -c "SELECT (SELECT count(*) FROM customers WHERE stripe_account_id LIKE 'acct_bench%') + (SELECT count(*) FROM products) + (SELECT count(*) FROM prices)")"
STATS="$(curl -sf "http://127.0.0.1:$STANDIN_PORT/stats")"
CALLS=$(( $(echo "$STATS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])') - CALLS_BEFORE ))
BUSIEST="$(echo "$STATS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["busiest_second"])')"
RSS="$(awk '/^VmHWM:/ {printf "%.0f MiB", $2 / 1024}' "/proc/$GATEWAY_PID/status")"
EXPECTED=$(( ACCOUNTS * (CUSTOMERS + PRODUCTS + PRICES) ))

cat <<REPORT

================================ backfill benchmark ================================
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)
machine:  nproc=$(nproc), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), PostgreSQL $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version')
stand-in: $ACCOUNTS accounts x ($CUSTOMERS customers + $PRODUCTS products + $PRICES prices), ${DELAY}s per call
gateway:  STRIPE_RATE_LIMIT=$RATE, STRIPE_BACKGROUND_PERCENT=$BACKGROUND, one run per account started at once
runs:     $SUCCEEDED succeeded, $FAILED_RUNS not; first start to last finish ${SPAN}s (wall $(awk -v a="$STARTED" -v b="$ENDED" 'BEGIN {printf "%.1f", b - a}')s)
objects:  $OBJECTS mirrored of $EXPECTED; $(awk -v o="$OBJECTS" -v s="$SPAN" 'BEGIN {printf "%.0f", o / s}') objects/s = $(awk -v o="$OBJECTS" -v s="$SPAN" -v r="$RATE" 'BEGIN {printf "%.1f%%", 100 * o / s / (r * 100)}') of the ceiling ($RATE req/s x 100 objects per page)
calls:    $CALLS to the stand-in, $(awk -v c="$CALLS" -v s="$SPAN" 'BEGIN {printf "%.1f", c / s}')/s on average, busiest second $BUSIEST (budget $RATE)
memory:   gateway peak RSS $RSS
interactive upserts (one Stripe create each, wrk -c$INTERACTIVE_CONNS -d$WINDOW):
          idle    p50 $IDLE_P50  p99 $IDLE_P99  ($IDLE_N requests)
          during  p50 $BUSY_P50  p99 $BUSY_P99  ($BUSY_N requests)
====================================================================================
REPORT
[[ "$FAILED_RUNS" == 0 ]] || die "$FAILED_RUNS runs did not succeed"
