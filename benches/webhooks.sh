#!/usr/bin/env bash
# Webhook ingestion, measured with the shared peer harness (../shared/bench-peers) in one
# sitting: the gateway's `POST /webhooks/stripe` under signed load at 8 and 32 connections, then
# PostgreSQL's single-insert ceiling (pgbench, one ~2 KB event per commit) on the same cluster.
#
#   bash benches/webhooks.sh                 # 8 and 32 connections, 20 s each, wrk
#   CONNS="8 32" DURATION=20 TOOL=asyncio bash benches/webhooks.sh
#   CEILING=0 bash benches/webhooks.sh       # the gateway only
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

log() { printf '\n==> %s\n' "$*"; }

log "release build"
cargo build --release --locked --quiet
binary="$(pwd)/target/release/stripe-gateway"

log "events"
if [ ! -s "$BENCH_WORK/data/events.jsonl" ]; then
    python3 "$PEERS/make_events.py" -n 300000
fi

log "cluster"
"$PEERS/pg.sh" start
database_url="$("$PEERS/pg.sh" url)"

log "gateway on 127.0.0.1:$PORT (pool $POOL, ${COMMITTERS:-2} committers, workers off)"
gateway_log="$BENCH_WORK/results/gateway_server_$(date -u +%Y%m%dT%H%M%SZ).log"
mkdir -p "$BENCH_WORK/results"
env -i PATH="$PATH" \
    DATABASE_URL="$database_url" DATABASE_POOL_SIZE="$POOL" \
    STRIPE_SECRET_KEY=sk_test_bench STRIPE_API_BASE=http://127.0.0.1:9 \
    STRIPE_WEBHOOK_SECRETS="$SECRET" RUN_WORKERS=false \
    WEBHOOK_COMMITTERS="${COMMITTERS:-2}" \
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
fi
