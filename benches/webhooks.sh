#!/usr/bin/env bash
# Webhook ingestion, measured with the shared peer harness (../shared/bench-peers) in one
# sitting: the gateway's `POST /webhooks/stripe` under signed load at 8 and 32 connections, then
# PostgreSQL's single-insert ceiling (pgbench, one ~2 KB event per commit) on the same cluster.
#
#   bash benches/webhooks.sh                 # 8 and 32 connections, 20 s each, wrk
#   CONNS="8 32" DURATION=20 TOOL=asyncio bash benches/webhooks.sh
#   CEILING=0 bash benches/webhooks.sh       # the gateway only
#   GATEWAY_BIN=/tmp/before/stripe-gateway bash benches/webhooks.sh   # a prebuilt gateway
#   PENDING=1 bash benches/webhooks.sh       # the account-less half stored pending (below)
#
# The events' accounts are no organizer's, so by default every event is stored
# `unknown_account`. With PENDING=1 the gateway runs with a platform account and that account's
# organizer is written straight into its database, so the account-less half (the platform's
# own events) is stored `pending`, as a real platform's are, and writes the pending-only
# indexes a delivery for a known account writes (the workers stay off).
#
# With the ceiling comes its latency tail: pgbench's per-transaction log at TAIL_CLIENTS (8)
# clients, the p99 one commit has on this disk, to read the gateway's 8-connection p99 against.
#
# The gateway runs from a release build with RUN_WORKERS=false (ingestion alone) against the
# harness's throwaway cluster on 127.0.0.1:5544. Everything is written under $BENCH_WORK
# (default /tmp/bench-peers); results land in $BENCH_WORK/results. Stored rows are compared
# with the 2xx count after every run, and the gateway's peak RSS is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS="${PEERS:-$(cd ../shared/bench-peers && pwd)}"
export BENCH_WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/bench-peers}"
SECRET="${SECRET:-whsec_peers_bench_0123456789abcdef}"
CONNS="${CONNS:-8 32}"
DURATION="${DURATION:-20}"
TOOL="${TOOL:-wrk}"
CEILING="${CEILING:-1}"
PORT="${PORT:-18090}"
POOL="${POOL:-10}"
TAIL_CLIENTS="${TAIL_CLIENTS:-8}"

log() { printf '\n==> %s\n' "$*"; }

if [ -n "${GATEWAY_BIN:-}" ]; then
    binary="$(cd "$(dirname "$GATEWAY_BIN")" && pwd)/$(basename "$GATEWAY_BIN")"
else
    log "release build"
    cargo build --release --locked --quiet
    binary="$(pwd)/target/release/stripe-gateway"
fi

# Each connection count takes its own slice of the file: a run at 32 connections sends up to
# ~20k events/s here, so the file holds enough for both runs at that rate.
EVENTS="${EVENTS:-800000}"
log "events"
if [ ! -s "$BENCH_WORK/data/events.jsonl" ] \
    || [ "$(wc -l <"$BENCH_WORK/data/events.jsonl")" -lt "$EVENTS" ]; then
    python3 "$PEERS/make_events.py" -n "$EVENTS"
fi

log "cluster"
"$PEERS/pg.sh" start
database_url="$("$PEERS/pg.sh" url)"

log "gateway on 127.0.0.1:$PORT (pool $POOL, ${COMMITTERS:-the default number of} committers, workers off)"
gateway_log="$BENCH_WORK/results/gateway_server_$(date -u +%Y%m%dT%H%M%SZ).log"
mkdir -p "$BENCH_WORK/results"
env -i PATH="$PATH" \
    DATABASE_URL="$database_url" DATABASE_POOL_SIZE="$POOL" \
    STRIPE_SECRET_KEY=sk_test_bench STRIPE_API_BASE=http://127.0.0.1:9 \
    STRIPE_WEBHOOK_SECRETS="$SECRET" RUN_WORKERS=false \
    ${COMMITTERS:+WEBHOOK_COMMITTERS="$COMMITTERS"} \
    ${PENDING:+STRIPE_PLATFORM_ACCOUNT_ID=acct_1PlatformBench0001} \
    JWT_SECRET=bench AUDIT_HASH_KEY=bench LOG_FORMAT=json RUST_LOG=warn \
    "$binary" serve --bind "127.0.0.1:$PORT" >"$gateway_log" 2>&1 &
gateway_pid=$!
trap 'kill "$gateway_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null

psql_cmd="$PEERS/pg.sh psql"
if [ -n "${PENDING:-}" ]; then
    $psql_cmd -qc "insert into organizers (id, name, stripe_account_id, status, created_at,
        updated_at, refund_application_fee, charge_type)
        select gen_random_uuid()::text, 'Platform', 'acct_1PlatformBench0001', 'active', now(),
               now(), false, 'direct'
        where not exists (select 1 from organizers where stripe_account_id = 'acct_1PlatformBench0001')"
else
    # The cluster outlives a run: a PENDING run's organizer must not stay behind.
    $psql_cmd -qc "delete from organizers where stripe_account_id = 'acct_1PlatformBench0001'"
fi
"$PEERS/run_load.sh" --url "http://127.0.0.1:$PORT/webhooks/stripe" --secret "$SECRET" \
    --label gateway --connections "$CONNS" --duration "$DURATION" --warmup 2 \
    --tool "$TOOL" --watch-pid "$gateway_pid" \
    --reset-cmd "$psql_cmd -qc 'truncate webhook_events cascade; checkpoint'" \
    --check-cmd "$psql_cmd -tAc 'select count(*) from webhook_events'"

log "gateway peak RSS"
grep VmHWM "/proc/$gateway_pid/status"
kill "$gateway_pid"
wait "$gateway_pid" 2>/dev/null || true
trap - EXIT

if [ "$CEILING" = 1 ]; then
    log "PostgreSQL single-insert ceiling, same cluster, same sitting"
    "$PEERS/pg_ceiling.sh" --clients "2 8 32" --duration "$DURATION" --payload text

    # The ceiling's latency tail: pg_ceiling.sh reports the mean only, and the gateway's p99 at
    # 8 connections can be no better than one commit's own tail on this disk. Same script,
    # same table (left by pg_ceiling.sh), with pgbench's per-transaction log.
    log "single-insert latency at $TAIL_CLIENTS clients (pgbench per-transaction log)"
    tail_dir="$BENCH_WORK/results/pgbench_tail_$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$tail_dir"
    payload="$(python3 "$PEERS/make_events.py" --sample --sample-type customer)"
    $psql_cmd -qc 'truncate webhook_inbox' -c 'checkpoint'
    (cd "$tail_dir" && "${PGBIN:-$(pg_config --bindir)}/pgbench" -n -M prepared \
        -c "$TAIL_CLIENTS" -j "$(( TAIL_CLIENTS < 2 ? TAIL_CLIENTS : 2 ))" -T "$DURATION" -l -f "$PEERS/pgbench_inbox.sql" \
        -D payload="$payload" "$database_url" | grep -E '^(tps|latency average)')
    cat "$tail_dir"/pgbench_log.* | awk '{print $3 / 1000}' | sort -n | awk '
        { ms[NR] = $1 }
        END { printf "single insert, %d transactions: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
              NR, ms[int(NR * .5)], ms[int(NR * .9)], ms[int(NR * .99)], ms[int(NR * .999)], ms[NR] }'
fi
