#!/usr/bin/env bash
# Several instances on one PostgreSQL: INSTANCES gateways (workers in each) share one rate
# budget and one database, against the Stripe stand-in (benches/accounts_stripe.py, DELAY per
# call).
#
# 1. Backfill: one run per account of ACCOUNTS, each requested through one instance and again
#    at once through the next (the second request must join the first or wait for it, never
#    run beside it). Prints the calls per second the stand-in counted (the busiest second
#    against the budget + 5%), the runs that overlapped on one account (must be 0) and the
#    span.
# 2. A killed instance: acct_bench0000 (FIRST customers) is reconciled through instance 0; once
#    its cursor is stored, instance 0 is killed (SIGKILL) and a run is requested through
#    instance 1. Prints how long after the kill the new run started (the account's lease, 120 s,
#    must lapse first), where it resumed and whether it ended succeeded.
# 3. Webhook ingestion (workers off): the shared harness's signed load (../shared/bench-peers,
#    load.py with wrk) against one instance with CONNS connections, then against every instance
#    at once with CONNS / INSTANCES each, disjoint events: accepted events/s of one and of all.
#
# Usage (from the repository root): bash benches/instances.sh
# Settings (environment; defaults in brackets):
#   INSTANCES [3]   ACCOUNTS [100]  CUSTOMERS [1000]  FIRST [20000]  (customers of acct_bench0000)
#   DELAY [0.05]    RATE [100]  BACKGROUND [90]  CONNS [32]  LOAD_SECS [10]
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   BENCH_DB [gateway_instances]
#   GATEWAY_BIN     a gateway binary to measure instead of building this checkout
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS="${CONNS:-32}"; LOAD_SECS="${LOAD_SECS:-10}"
PEERS="${PEERS:-$(cd ../shared/bench-peers && pwd)}"
export BENCH_WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/bench-peers}"
SECRET=whsec_instances_bench
INSTANCES="${INSTANCES:-3}"; ACCOUNTS="${ACCOUNTS:-100}"; CUSTOMERS="${CUSTOMERS:-1000}"; FIRST="${FIRST:-20000}"
DELAY="${DELAY:-0.05}"; RATE="${RATE:-100}"; BACKGROUND="${BACKGROUND:-90}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_instances}"
GATEWAY="${GATEWAY_BIN:-target/release/stripe-gateway}"
source benches/sync_lib.sh

if [[ -z "${GATEWAY_BIN:-}" ]]; then say "building"; cargo build --release --bin stripe-gateway; fi

say "database $BENCH_DB: $ACCOUNTS organizers; $INSTANCES instances"
make_database $(for n in $(seq 0 $((ACCOUNTS - 1))); do printf 'acct_bench%04d ' "$n"; done)
start_standin --accounts "$ACCOUNTS" --customers "$CUSTOMERS" --first-customers "$FIRST" \
    --products 0 --prices 0 --delay "$DELAY"
for n in $(seq 0 $((INSTANCES - 1))); do
    start_instance "$n" STRIPE_RATE_LIMIT="$RATE" STRIPE_BACKGROUND_PERCENT="$BACKGROUND" \
        STRIPE_WEBHOOK_SECRETS="$SECRET"
done
# Each instance takes budget / live instances once it has beaten into stripe_instances.
for _ in $(seq 1 100); do
    live="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM stripe_instances")"
    [[ "$live" -ge "$INSTANCES" ]] && break
    sleep 0.1
done
ORGS=($(organizers_like 'acct_bench%'))
BIG_ORG="${ORGS[0]}"; OTHERS=("${ORGS[@]:1}")

say "1. backfill of $((ACCOUNTS - 1)) accounts, each requested through two instances at once"
CALLS_BEFORE="$(stat calls)"
START=$SECONDS
n=0; REQUESTS=()
for org in "${OTHERS[@]}"; do
    start_run "${URLS[n % INSTANCES]}" "$org" >/dev/null &
    REQUESTS+=($!)
    start_run "${URLS[(n + 1) % INSTANCES]}" "$org" >/dev/null &
    REQUESTS+=($!)
    n=$((n + 1))
done
wait "${REQUESTS[@]}" || die "a request for a run failed"
wait_runs() { # until no run of the accounts but acct_bench0000 is queued or running
    local deadline=$((SECONDS + 900)) left
    while :; do
        (( SECONDS < deadline )) || die "runs still going after 900 s"
        left="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM sync_runs WHERE stripe_account_id <> 'acct_bench0000' AND status IN ('queued', 'running')")"
        [[ "$left" == 0 ]] && return
        sleep 0.2
    done
}
wait_runs
SPAN=$((SECONDS - START))
CALLS=$(( $(stat calls) - CALLS_BEFORE ))
read -r RUNS SUCCEEDED ACCOUNTS_DONE <<<"$(psql "$DB_URL" -qXtA -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'), count(DISTINCT stripe_account_id) FILTER (WHERE status = 'succeeded') FROM sync_runs WHERE stripe_account_id <> 'acct_bench0000'")"
NOT_SUCCEEDED="$(psql "$DB_URL" -qXtA -c "SELECT coalesce(string_agg(status || ' ' || n, ', '), 'none') FROM (SELECT status, count(*) AS n FROM sync_runs WHERE stripe_account_id <> 'acct_bench0000' AND status <> 'succeeded' GROUP BY status) s")"
OVERLAPS="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM sync_runs a JOIN sync_runs b ON a.stripe_account_id = b.stripe_account_id AND a.id < b.id WHERE a.started_at IS NOT NULL AND b.started_at IS NOT NULL AND a.started_at < coalesce(b.finished_at, now() AT TIME ZONE 'UTC') AND b.started_at < coalesce(a.finished_at, now() AT TIME ZONE 'UTC')")"
BUSIEST="$(stat busiest_second)"
MIRRORED="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM customers WHERE stripe_account_id <> 'acct_bench0000'")"

say "2. acct_bench0000 ($FIRST customers) through instance 0, which is killed mid-run"
FIRST_RUN="$(start_run "${URLS[0]}" "$BIG_ORG")"
for _ in $(seq 1 300); do
    [[ "$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM sync_cursors WHERE stripe_account_id = 'acct_bench0000'")" != 0 ]] && break
    sleep 0.1
done
sleep 2
CURSOR_AT_KILL="$(psql "$DB_URL" -qXtA -c "SELECT starting_after FROM sync_cursors WHERE stripe_account_id = 'acct_bench0000' AND kind = 'customers'")"
kill -9 "${GATEWAY_PIDS[0]}"
KILLED_AT=$(date +%s.%N)
SECOND_RUN="$(start_run "${URLS[1]}" "$BIG_ORG")" || die "requesting the run through instance 1"
run_field() { psql "$DB_URL" -qXtA -c "SELECT $2 FROM sync_runs WHERE id = '$1'"; }
for _ in $(seq 1 1800); do
    [[ "$(run_field "$SECOND_RUN" status)" != queued ]] && break
    sleep 0.1
done
STARTED_AFTER="$(awk -v k="$KILLED_AT" -v s="$(date +%s.%N)" 'BEGIN {printf "%.1f", s - k}')"
for _ in $(seq 1 3000); do
    [[ "$(run_field "$SECOND_RUN" status)" =~ ^(queued|running)$ ]] || break
    sleep 0.2
done
SECOND_STATUS="$(run_field "$SECOND_RUN" status)"
FIRST_STATUS="$(run_field "$FIRST_RUN" status)"
RESUMED_AFTER="$(run_field "$SECOND_RUN" "report::json->'kinds'->'customers'->>'resumed_after'")"
CHECKED="$(run_field "$SECOND_RUN" "report::json->'kinds'->'customers'->>'checked'")"
BIG_MIRRORED="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM customers WHERE stripe_account_id = 'acct_bench0000' AND status = 'active'")"

say "3. webhook ingestion: one instance, then all $INSTANCES at once (workers off)"
for pid in "${GATEWAY_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${GATEWAY_PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
for n in $(seq 0 $((INSTANCES - 1))); do
    start_instance "$n" RUN_WORKERS=false STRIPE_WEBHOOK_SECRETS="$SECRET"
done
EVENTS_NEEDED=$(( 40000 * LOAD_SECS * 2 ))
if [[ ! -s "$BENCH_WORK/data/events.jsonl" ]] || (( $(wc -l <"$BENCH_WORK/data/events.jsonl") < EVENTS_NEEDED )); then
    python3 "$PEERS/make_events.py" -n "$EVENTS_NEEDED" >/dev/null
fi
load() { # url connections first_event json_out
    python3 "$PEERS/load.py" --url "$1/webhooks/stripe" --secret "$SECRET" -c "$2" -d "$LOAD_SECS" \
        --warmup 2 --start "$3" --tool wrk --quiet --json-out "$4" >/dev/null
}
accepted() { python3 -c "import json,sys; print(sum(json.loads(l)['accepted_per_s'] for f in sys.argv[1:] for l in open(f)))" "$@"; }
load "${URLS[0]}" "$CONNS" 0 "$WORK/one.json"
EACH=$(( CONNS / INSTANCES > 0 ? CONNS / INSTANCES : 1 ))
SLICE=$(( EVENTS_NEEDED / 2 / INSTANCES ))
LOADS=()
for n in $(seq 0 $((INSTANCES - 1))); do
    load "${URLS[n]}" "$EACH" $(( EVENTS_NEEDED / 2 + n * SLICE )) "$WORK/all-$n.json" &
    LOADS+=($!)
done
wait "${LOADS[@]}" || die "a load generator failed"
ONE="$(accepted "$WORK/one.json")"
ALL="$(accepted "$WORK"/all-*.json)"

cat <<REPORT

============================== several instances benchmark ==============================
date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$([[ -n "${GATEWAY_BIN:-}" ]] && echo ", gateway $GATEWAY_BIN")
machine:  nproc=$(nproc), $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), PostgreSQL $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version')
setup:    $INSTANCES instances on one database; STRIPE_RATE_LIMIT=$RATE (together), ${DELAY}s per call
1. backfill: $((ACCOUNTS - 1)) accounts x $CUSTOMERS customers, each requested through two instances at once
   runs:     $RUNS recorded, $SUCCEEDED succeeded, for $ACCOUNTS_DONE accounts (the others: $NOT_SUCCEEDED); overlapping runs of one account: $OVERLAPS
   calls:    $CALLS in ${SPAN}s ($(awk -v c="$CALLS" -v s="$SPAN" 'BEGIN {printf "%.1f", c / s}')/s); busiest second at the stand-in $BUSIEST (budget $RATE, +5% = $(( RATE * 105 / 100 )))
   mirrored: $MIRRORED customers of $(( (ACCOUNTS - 1) * CUSTOMERS ))
2. killed instance: cursor at the kill $CURSOR_AT_KILL; the first run is now '$FIRST_STATUS'
   the run requested through instance 1 started ${STARTED_AFTER}s after the kill (lease 120 s), resumed after $RESUMED_AFTER,
   listed $CHECKED more and ended '$SECOND_STATUS'; acct_bench0000 has $BIG_MIRRORED of $FIRST customers mirrored
3. webhook ingestion (${LOAD_SECS}s, wrk): one instance at $CONNS connections $ONE events/s;
   $INSTANCES instances at $EACH each, together $ALL events/s ($(awk -v a="$ALL" -v o="$ONE" 'BEGIN {printf "%.2f", a / o}')x one)
=========================================================================================
REPORT
[[ "$OVERLAPS" == 0 ]] || die "$OVERLAPS pairs of runs of one account overlapped"
(( BUSIEST <= RATE * 105 / 100 )) || die "the stand-in served $BUSIEST calls in one second, over the budget + 5%"
[[ "$SECOND_STATUS" == succeeded ]] || die "the resumed run ended $SECOND_STATUS"
[[ "$BIG_MIRRORED" == "$FIRST" ]] || die "acct_bench0000 has $BIG_MIRRORED customers mirrored, not $FIRST"
