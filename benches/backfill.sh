#!/usr/bin/env bash
# Backfill of many accounts at once against a Stripe stand-in that takes DELAY per call
# (benches/accounts_stripe.py), within the rate budget, on PostgreSQL; then a reconciliation of
# the same accounts with interactive upserts (each one Stripe create) running meanwhile. Prints
# the backfill's objects/s against the budget's ceiling (STRIPE_RATE_LIMIT x 100 objects per
# page) and against what its fewest calls allow, calls/s, the gateway's peak RSS, and the
# interactive p50/p99 idle and during the reconciliation.
#
# Usage (from the repository root): bash benches/backfill.sh
# Settings (environment; defaults in brackets):
#   ACCOUNTS [100] CUSTOMERS [1000] PRODUCTS [50] PRICES [100]   per account, in the stand-in
#   DELAY [0.05]            seconds per Stripe call
#   RATE [100]              STRIPE_RATE_LIMIT;  BACKGROUND [90]  STRIPE_BACKGROUND_PERCENT
#   INTERACTIVE_CONNS [4]   wrk connections of the interactive upserts; WINDOW [10s] each window
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   BENCH_DB [gateway_backfill]
#   GATEWAY_BIN             a gateway binary to measure instead of building this checkout
#   EXTRA_SERIES            more histogram series for the breakdown of the upserts' time
#                           (benches/metrics_delta.py), e.g. 'gateway_db_pool_wait_seconds{pool="shared"}'
set -euo pipefail
cd "$(dirname "$0")/.."

ACCOUNTS="${ACCOUNTS:-100}"; CUSTOMERS="${CUSTOMERS:-1000}"; PRODUCTS="${PRODUCTS:-50}"; PRICES="${PRICES:-100}"
DELAY="${DELAY:-0.05}"; RATE="${RATE:-100}"; BACKGROUND="${BACKGROUND:-90}"
INTERACTIVE_CONNS="${INTERACTIVE_CONNS:-4}"; WINDOW="${WINDOW:-10s}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_backfill}"
GATEWAY="${GATEWAY_BIN:-target/release/stripe-gateway}"
source benches/sync_lib.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

if [[ -z "${GATEWAY_BIN:-}" ]]; then say "building"; cargo build --release --bin stripe-gateway; fi

say "database $BENCH_DB: $ACCOUNTS organizers"
# The organizer the interactive upserts go to (acct_interactive1) is not backfilled, so its
# new customers stay apart.
make_database $(for n in $(seq 0 $((ACCOUNTS - 1))); do printf 'acct_bench%04d ' "$n"; done) acct_interactive1

start_standin --accounts "$ACCOUNTS" --customers "$CUSTOMERS" --products "$PRODUCTS" --prices "$PRICES" --delay "$DELAY"
start_gateway STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT="$BACKGROUND"
ORGS=($(organizers_like 'acct_bench%'))
BENCH_ORG="$(organizers_like acct_interactive1)"
export BENCH_ORG BENCH_TOKEN="$ADMIN"
# Run in this shell, not in $(...), so that die stops the benchmark.
interactive() { # label -> "p50 p99 requests" in $WORK/label.latency
    wrk -t1 -c"$INTERACTIVE_CONNS" -d"$WINDOW" --latency -s benches/new_customers.lua "$URL" >"$WORK/$1.txt" 2>&1 \
        || { cat "$WORK/$1.txt" >&2; die "interactive $1: wrk failed"; }
    if grep -q 'Non-2xx\|Socket errors' "$WORK/$1.txt"; then cat "$WORK/$1.txt" >&2; die "interactive $1: errors"; fi
    awk '$1 == "50%" {p50=$2} $1 == "99%" {p99=$2} / requests in / {n=$1} END {print p50, p99, n}' "$WORK/$1.txt" >"$WORK/$1.latency"
}

scrape() { curl -sf "$URL/metrics" >"$WORK/$1.metrics" || die "scraping /metrics"; }
# Where the interactive upserts' time went in a window (observations between two scrapes).
breakdown() {
    python3 benches/metrics_delta.py "$WORK/$1-before.metrics" "$WORK/$1-after.metrics" \
        'gateway_http_request_duration_seconds{route="/v1/organizers/{org_id}/customers",method="POST"}' \
        'gateway_stripe_limiter_wait_seconds{priority="interactive"}' \
        'gateway_stripe_request_duration_seconds{operation="POST /v1/customers"}' \
        'gateway_db_pool_wait_seconds' ${EXTRA_SERIES:-}
}

say "interactive upserts, idle"
scrape idle-before
interactive idle
scrape idle-after
read -r IDLE_P50 IDLE_P99 IDLE_N <"$WORK/idle.latency"

say "backfill of $ACCOUNTS accounts (POST .../sync each, empty mirror), nothing else"
sync_all 900 "${ORGS[@]}" >"$WORK/backfill.txt"
read -r SPAN SUCCEEDED FAILED_RUNS CALLS <"$WORK/backfill.txt"
BUSIEST="$(stat busiest_second)"
read -r OBJECTS <<<"$(psql "$DB_URL" -qXtA -c "SELECT (SELECT count(*) FROM customers WHERE stripe_account_id LIKE 'acct_bench%') + (SELECT count(*) FROM products) + (SELECT count(*) FROM prices)")"
EXPECTED=$(( ACCOUNTS * (CUSTOMERS + PRODUCTS + PRICES) ))
# The fewest calls a backfill can make: full pages of 100, one listing of inactive prices
# (Stripe lists the active ones unless asked), of subscriptions and of events per account (empty
# here; the entitlements of customers without a subscription take none).
MIN_CALLS=$(( ACCOUNTS * ($(pages "$CUSTOMERS") + $(pages "$PRODUCTS") + $(pages "$PRICES") + 3) ))

say "reconciliation of the same $ACCOUNTS accounts (mirror complete), interactive upserts meanwhile"
sync_all 900 "${ORGS[@]}" >"$WORK/reconcile.txt" &
RECONCILE_PID=$!
scrape busy-before
interactive busy
scrape busy-after
read -r BUSY_P50 BUSY_P99 BUSY_N <"$WORK/busy.latency"
wait "$RECONCILE_PID"
read -r R_SPAN R_SUCCEEDED R_FAILED R_CALLS <"$WORK/reconcile.txt"
RSS="$(peak_rss_mib) MiB"
# The mirror's writes over both runs: row updates, how many of them HOT (no index touched).
WRITES="$(psql "$DB_URL" -qXtA -c "SELECT string_agg(format('%s %s ins, %s upd (%s HOT)', relname, n_tup_ins, n_tup_upd, n_tup_hot_upd), '; ' ORDER BY relname) FROM pg_stat_user_tables WHERE relname IN ('customers', 'products', 'prices')")"
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.1f", n / s}'; }
BG_BUDGET=$(( RATE * BACKGROUND / 100 ))

cat <<REPORT

================================ backfill benchmark ================================
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)
machine:  nproc=$(nproc), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), PostgreSQL $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version')
stand-in: $ACCOUNTS accounts x ($CUSTOMERS customers + $PRODUCTS products + $PRICES prices), ${DELAY}s per call
gateway:  STRIPE_RATE_LIMIT=$RATE, STRIPE_BACKGROUND_PERCENT=$BACKGROUND (background share $BG_BUDGET calls/s), one run per account started at once
backfill (empty mirror, no other traffic):
  runs:     $SUCCEEDED succeeded, $FAILED_RUNS not; first start to last finish ${SPAN}s
  objects:  $OBJECTS mirrored of $EXPECTED; $(awk -v o="$OBJECTS" -v s="$SPAN" 'BEGIN {printf "%.0f", o / s}') objects/s = $(awk -v o="$OBJECTS" -v s="$SPAN" -v r="$RATE" 'BEGIN {printf "%.1f%%", 100 * o / s / (r * 100)}') of the budget's ceiling ($RATE req/s x 100 objects per page)
  calls:    $CALLS ($MIN_CALLS at the fewest: $(awk -v o="$EXPECTED" -v m="$MIN_CALLS" 'BEGIN {printf "%.1f", o / m}') objects per call at best), $(rate "$CALLS" "$SPAN")/s on average = $(awk -v c="$CALLS" -v s="$SPAN" -v b="$BG_BUDGET" 'BEGIN {printf "%.1f%%", 100 * c / s / b}') of the background share; busiest second (since the stand-in started) $BUSIEST
  at best:  the background share x objects per call = $(awk -v o="$EXPECTED" -v m="$MIN_CALLS" -v b="$BG_BUDGET" -v r="$RATE" 'BEGIN {printf "%.0f objects/s = %.1f%%", b * o / m, 100 * b * o / m / (r * 100)}') of the budget's ceiling
reconciliation (mirror complete) with interactive upserts:
  runs:     $R_SUCCEEDED succeeded, $R_FAILED not; ${R_SPAN}s, $R_CALLS calls ($(rate "$R_CALLS" "$R_SPAN")/s, interactive ones included)
memory:   gateway peak RSS $RSS
writes:   $WRITES
interactive upserts (one Stripe create each, wrk -c$INTERACTIVE_CONNS -d$WINDOW):
          idle    p50 $IDLE_P50  p99 $IDLE_P99  ($IDLE_N requests)
          during  p50 $BUSY_P50  p99 $BUSY_P99  ($BUSY_N requests): p99 $(awk -v b="$BUSY_P99" -v i="$IDLE_P99" 'BEGIN {printf "%.2f", ms(b) / ms(i)} function ms(t) {return t ~ /ms$/ ? t + 0 : (t ~ /us$/ ? t / 1000 : t * 1000)}')x idle
where the upserts' time went (between scrapes of /metrics; bucket bounds, not exact quantiles):
idle:
$(breakdown idle)
during the reconciliation (the limiter's and pool's waits include the background's):
$(breakdown busy)
====================================================================================
REPORT
[[ "$R_FAILED" == 0 ]] || die "$R_FAILED reconciliation runs did not succeed"
[[ "$FAILED_RUNS" == 0 ]] || die "$FAILED_RUNS runs did not succeed"
[[ "$OBJECTS" == "$EXPECTED" ]] || die "the backfill mirrored $OBJECTS objects of $EXPECTED"
(( BUSIEST <= RATE + 1 )) || die "the stand-in served $BUSIEST calls in one second, over the budget of $RATE"
