#!/usr/bin/env bash
# Fair between tenants: one account backfills BIG customers while SMALL other accounts receive
# webhook events (product.updated, EVENT_RATE a second each, for WINDOW seconds), all on one
# gateway within one rate budget, against the Stripe stand-in (benches/accounts_stripe.py, DELAY
# per call). Prints the other accounts' event lag (delivery accepted -> mirror written: the
# inbox row's received_at to its processed_at) p50/p99/max, their Stripe calls against their
# events, the backfill's calls meanwhile, and the busiest second at the stand-in. With BACKLOG,
# the backfilling account's own webhook backlog comes first: BACKLOG events about as many of
# its products, delivered at once just before the others' events begin.
#
# Usage (from the repository root): bash benches/fairness.sh
# Settings (environment; defaults in brackets):
#   BIG [1000000]    customers of the backfilling account (acct_bench0000)
#   SMALL [50]       other accounts (acct_bench0001 ...), 20 products each
#   EVENT_RATE [5]   events a second per other account;  WINDOW [30]  seconds of events
#   DELAY [0.05]     seconds per Stripe call;  RATE [300]  STRIPE_RATE_LIMIT;  BACKGROUND [90]
#   WORKERS [32]     WORKER_CONCURRENCY;  BACKLOG [0]  events of acct_bench0000 first (<= 10000)
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   BENCH_DB [gateway_fairness]
#   GATEWAY_BIN      a gateway binary to measure instead of building this checkout
set -euo pipefail
cd "$(dirname "$0")/.."

BIG="${BIG:-1000000}"; SMALL="${SMALL:-50}"; EVENT_RATE="${EVENT_RATE:-5}"; WINDOW="${WINDOW:-30}"
DELAY="${DELAY:-0.05}"; RATE="${RATE:-300}"; BACKGROUND="${BACKGROUND:-90}"; WORKERS="${WORKERS:-32}"
BACKLOG="${BACKLOG:-0}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_fairness}"
GATEWAY="${GATEWAY_BIN:-target/release/stripe-gateway}"
SECRET=whsec_fairness_bench
source benches/sync_lib.sh

if [[ -z "${GATEWAY_BIN:-}" ]]; then say "building"; cargo build --release --bin stripe-gateway; fi

say "database $BENCH_DB: 1 + $SMALL organizers"
make_database $(for n in $(seq 0 "$SMALL"); do printf 'acct_bench%04d ' "$n"; done)
(( BACKLOG <= 10000 )) || die "BACKLOG is at most 10000 (the products' ids have four digits)"
start_standin --accounts $((SMALL + 1)) --first-customers "$BIG" --customers 0 \
    --products $(( BACKLOG > 20 ? BACKLOG : 20 )) \
    --prices 0 --delay "$DELAY"
start_gateway STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT="$BACKGROUND" \
    STRIPE_WEBHOOK_SECRETS="$SECRET" WORKER_CONCURRENCY="$WORKERS"
BIG_ORG="$(organizers_like acct_bench0000)"
by_account() { # calls so far: "big small"
    curl -sf "$STATS_URL" | python3 -c "import json,sys
c = json.load(sys.stdin)['by_account']
print(c.get('acct_bench0000', 0), sum(v for k, v in c.items() if k != 'acct_bench0000'))"
}
run_status() { psql "$DB_URL" -qXtA -c "SELECT status FROM sync_runs WHERE id = '$RUN'"; }

say "backfill of acct_bench0000 ($BIG customers)"
RUN="$(curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    -d '{"kinds": ["customers"]}' "$URL/v1/organizers/$BIG_ORG/sync" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')" || die "starting the backfill"
for _ in $(seq 1 50); do [[ "$(run_status)" == running ]] && break; sleep 0.1; done
sleep 3

say "$SMALL accounts x $EVENT_RATE events/s for ${WINDOW}s while it runs$( ((BACKLOG)) && echo ", after $BACKLOG of acct_bench0000")"
read -r BIG_BEFORE SMALL_BEFORE <<<"$(by_account)"
read -r SENT ACKED LATE BACKLOG_ACKED <<<"$(python3 benches/fair_share.py --url "$URL/webhooks/stripe" --secret "$SECRET" \
    --accounts "$SMALL" --rate "$EVENT_RATE" --seconds "$WINDOW" --products 20 --backlog "$BACKLOG")"
BACKLOG_LEFT="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM webhook_events WHERE stripe_account_id = 'acct_bench0000' AND processed_at IS NULL")"
(( BACKLOG == 0 )) || [[ "$BACKLOG_ACKED" == "$BACKLOG" ]] || die "$((BACKLOG - BACKLOG_ACKED)) of the backlog's $BACKLOG events were not acknowledged"
read -r BIG_AFTER SMALL_AFTER <<<"$(by_account)"
[[ "$(run_status)" == running ]] || die "the backfill ended before the events did: raise BIG"
[[ "$ACKED" == "$SENT" ]] || die "$((SENT - ACKED)) of $SENT events were not acknowledged"

say "waiting for the other accounts' events to be processed"
OTHERS="stripe_account_id <> 'acct_bench0000'"
for _ in $(seq 1 600); do
    left="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM webhook_events WHERE $OTHERS AND processed_at IS NULL")"
    [[ "$left" == 0 ]] && break
    sleep 0.1
done
[[ "$left" == 0 ]] || die "$left events of the other accounts still unprocessed after 60 s"
read -r P50 P99 MAX <<<"$(psql "$DB_URL" -qXtA -F ' ' -c "
    WITH lag AS (SELECT extract(epoch FROM processed_at - received_at) AS s FROM webhook_events WHERE $OTHERS)
    SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric, 3),
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric, 3), round(max(s)::numeric, 3) FROM lag")"
SMALL_CALLS=$((SMALL_AFTER - SMALL_BEFORE)); BIG_CALLS=$((BIG_AFTER - BIG_BEFORE))
BG_BUDGET=$(( RATE * BACKGROUND / 100 ))
rate() { awk -v n="$1" -v s="$WINDOW" 'BEGIN {printf "%.1f", n / s}'; }

cat <<REPORT

=============================== fairness benchmark ===============================
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$([[ -n "${GATEWAY_BIN:-}" ]] && echo ", gateway $GATEWAY_BIN")
machine:  nproc=$(nproc), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), PostgreSQL $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version')
setup:    acct_bench0000 backfilling $BIG customers; $SMALL other accounts x $EVENT_RATE product.updated/s for ${WINDOW}s;
          ${DELAY}s per Stripe call; STRIPE_RATE_LIMIT=$RATE, background share $BG_BUDGET calls/s; WORKER_CONCURRENCY=$WORKERS
events:   $SENT sent, $ACKED acknowledged ($LATE sent over 100 ms late by the sender)$( ((BACKLOG)) && printf '\nbacklog:  %s events of acct_bench0000 first, %s of them still unprocessed when the window ended' "$BACKLOG" "$BACKLOG_LEFT")
lag of the other accounts' events (accepted -> mirror written): p50 ${P50}s  p99 ${P99}s  max ${MAX}s
calls in the window: other accounts $SMALL_CALLS ($(rate "$SMALL_CALLS")/s, for $(rate "$SENT") events/s),
          the backfill $BIG_CALLS ($(rate "$BIG_CALLS")/s); busiest second at the stand-in $(stat busiest_second)
==================================================================================
REPORT
