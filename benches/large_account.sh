#!/usr/bin/env bash
# One account of many customers, at each size of SIZES: does a reconciliation's memory stay flat
# and its time grow linearly with the account? For each size, a new database and gateway, a
# Stripe stand-in (benches/accounts_stripe.py) that makes the customers as they are listed (none
# stored up front), 0 s per call and a budget the machine cannot reach; then one backfill
# (empty mirror) and one reconciliation (mirror complete), each a run of every kind. Prints
# each run's seconds, customers/s, Stripe calls, and the gateway's peak RSS after each.
#
# Usage (from the repository root): bash benches/large_account.sh
# Settings (environment; defaults in brackets):
#   SIZES ["10000 100000 1000000"]   customers of the account, one measurement each
#   OTHERS [0]               customers of 100 other accounts, stored and analyzed before the
#                            backfill: the account is new to PostgreSQL's statistics, as an
#                            organizer joining a busy gateway is (src/db/estimates.rs)
#   RATE [100000]            STRIPE_RATE_LIMIT (high: the machine, not the budget, bounds it)
#   TIMEOUT [1800]           seconds a run may take before the benchmark fails
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   BENCH_DB [gateway_large]
#   GATEWAY_BIN              a gateway binary to measure instead of building this checkout
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-10000 100000 1000000}"; RATE="${RATE:-100000}"; TIMEOUT="${TIMEOUT:-1800}"
OTHERS="${OTHERS:-0}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_large}"
GATEWAY="${GATEWAY_BIN:-target/release/stripe-gateway}"
source benches/sync_lib.sh

if [[ -z "${GATEWAY_BIN:-}" ]]; then say "building"; cargo build --release --bin stripe-gateway; fi

ROWS=()
for size in $SIZES; do
    say "$size customers: a new database, stand-in and gateway"
    make_database acct_bench0000
    if (( OTHERS > 0 )); then
        say "$OTHERS customers of 100 other accounts, then ANALYZE"
        psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
    SELECT 'org_other' || a, 'Other ' || a, 'acct_other' || a, 'active', now(), now()
    FROM generate_series(1, 100) a;
INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized, metadata,
    stripe_customer_id, status, create_attempt, version, created_at, updated_at)
    SELECT 'row_' || n, 'org_other' || (n % 100 + 1), 'acct_other' || (n % 100 + 1),
        n || '@example.com', n || '@example.com', '{}', 'cus_other' || n, 'active', 0, 1,
        now(), now()
    FROM generate_series(1, $OTHERS) n;
ANALYZE;
SQL
    fi
    start_standin --accounts 1 --customers "$size" --products 0 --prices 0 --delay 0
    start_gateway STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT=90
    ORG="$(organizers_like acct_bench0000)"

    say "$size customers: backfill"
    read -r B_SECS B_OK B_FAILED B_CALLS <<<"$(sync_all "$TIMEOUT" "$ORG")"
    [[ "$B_FAILED" == 0 ]] || die "the backfill of $size customers did not succeed"
    B_RSS="$(peak_rss_mib)"
    MIRRORED="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM customers WHERE status = 'active' AND stripe_account_id = 'acct_bench0000'")"
    [[ "$MIRRORED" == "$size" ]] || die "the backfill mirrored $MIRRORED customers of $size"

    say "$size customers: reconciliation"
    read -r R_SECS R_OK R_FAILED R_CALLS <<<"$(sync_all "$TIMEOUT" "$ORG")"
    [[ "$R_FAILED" == 0 ]] || die "the reconciliation of $size customers did not succeed"
    R_RSS="$(peak_rss_mib)"
    ROWS+=("$(printf '%9d | %8.1f s %8.0f/s %6d calls %4d MiB | %8.1f s %8.0f/s %6d calls %4d MiB' \
        "$size" "$B_SECS" "$(awk -v n="$size" -v s="$B_SECS" 'BEGIN {print n / s}')" "$B_CALLS" "$B_RSS" \
        "$R_SECS" "$(awk -v n="$size" -v s="$R_SECS" 'BEGIN {print n / s}')" "$R_CALLS" "$R_RSS")")

    kill "$GATEWAY_PID" "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    PIDS=()
done

cat <<REPORT

============================== large account benchmark ==============================
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$([[ -n "${GATEWAY_BIN:-}" ]] && echo ", gateway $GATEWAY_BIN")
machine:  nproc=$(nproc), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), PostgreSQL $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version')
stand-in: one account, customers made as listed, 0 s per call; STRIPE_RATE_LIMIT=$RATE
others:   $OTHERS customers of 100 other accounts, analyzed before the backfill
peak RSS: the gateway's high-water mark since it started, after the run (one gateway per size)

customers |        backfill (empty mirror)              |     reconciliation (mirror complete)
$(printf '%s\n' "${ROWS[@]}")
=====================================================================================
REPORT
