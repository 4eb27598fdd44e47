# What the sync benchmarks (backfill.sh, large_account.sh) share: sourced from the repository
# root, not run. The caller sets PG_ADMIN_URL, BENCH_DB and GATEWAY before sourcing; this file
# makes WORK (a temporary directory), PIDS (what cleanup stops) and the trap that cleans up.

DB_URL="${PG_ADMIN_URL%/*}/$BENCH_DB"
WORK="$(mktemp -d)"
PIDS=()
GATEWAY_PIDS=()
URLS=()

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

# A new, migrated database with one active organizer per account named (acct_...).
make_database() {
    psql "$PG_ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null
    psql "$PG_ADMIN_URL" -qX -c "CREATE DATABASE $BENCH_DB" >/dev/null
    DATABASE_URL="$DB_URL" RUST_LOG=warn "$GATEWAY" migrate >/dev/null
    local account
    for account in "$@"; do
        printf "INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at) VALUES (gen_random_uuid()::text, 'Bench %s', '%s', NULL, 'active', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');\n" "$account" "$account"
    done | psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null
}

# The organizer ids of the accounts whose id is LIKE $1, in account order.
organizers_like() {
    psql "$DB_URL" -qXtA -c "SELECT id FROM organizers WHERE stripe_account_id LIKE '$1' ORDER BY stripe_account_id"
}

# Starts benches/accounts_stripe.py with these arguments; sets STANDIN_PORT and STATS_URL.
start_standin() {
    STANDIN_PORT=$((20000 + RANDOM % 20000))
    python3 benches/accounts_stripe.py --port "$STANDIN_PORT" "$@" &
    PIDS+=($!)
    STATS_URL="http://127.0.0.1:$STANDIN_PORT/stats"
    for _ in $(seq 1 100); do curl -sf -o /dev/null "$STATS_URL" && return; sleep 0.1; done
    die "the Stripe stand-in did not start"
}

# A counter of the stand-in (calls, busiest_second, created).
stat() { curl -sf "$STATS_URL" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Starts instance $1 (0, 1, ...) of `stripe-gateway serve` on the stand-in with the extra
# VAR=value settings that follow; sets GATEWAY_PIDS[$1] and URLS[$1], and ADMIN (an admin
# token). Its log is $WORK/gateway-$1.log.
start_instance() {
    local n="$1"; shift
    local port=$((STANDIN_PORT + 1 + n))
    env STRIPE_SECRET_KEY=sk_bench STRIPE_API_BASE="http://127.0.0.1:$STANDIN_PORT" \
        JWT_SECRET=bench AUDIT_HASH_KEY=bench DATABASE_URL="$DB_URL" DATABASE_POOL_SIZE=16 \
        BIND_ADDRESS="127.0.0.1:$port" RECONCILE_INTERVAL_SECS=0 BACKFILL_ON_REGISTER=false \
        RUST_LOG=warn LOG_FORMAT=json "$@" "$GATEWAY" serve >"$WORK/gateway-$n.log" 2>&1 &
    GATEWAY_PIDS[n]=$!
    PIDS+=("$!")
    URLS[n]="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -sf -o /dev/null "${URLS[n]}/readyz" && break; sleep 0.1; done
    curl -sf -o /dev/null "${URLS[n]}/readyz" || die "gateway instance $n did not start"
    ADMIN="$(JWT_SECRET=bench "$GATEWAY" token --role admin --ttl-secs 7200)"
}

# One instance (instance 0), as most benchmarks run it; sets GATEWAY_PID and URL too.
start_gateway() {
    start_instance 0 "$@"
    GATEWAY_PID="${GATEWAY_PIDS[0]}"
    URL="${URLS[0]}"
    ln -sf "$WORK/gateway-0.log" "$WORK/gateway.log"
}

# The gateway's peak resident memory so far, in MiB.
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$GATEWAY_PID/status"; }

# Starts a run of every kind of organizer $2 through instance URL $1; prints the run's id.
start_run() {
    curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
        -d '{"kinds": ["customers", "products", "prices", "subscriptions", "entitlements", "events"]}' \
        "$1/v1/organizers/$2/sync" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'
}

# One run of every kind per organizer named, all started at once (through the instances in
# turn); waits until every one has ended (at most $1 seconds) and prints "span_secs succeeded
# not_succeeded calls": the span from the first start to the last finish, and the calls the
# stand-in served meanwhile.
sync_all() {
    local timeout="$1"; shift
    local ids=() calls_before left org n=0
    calls_before="$(stat calls)"
    for org in "$@"; do
        ids+=("$(start_run "${URLS[n % ${#URLS[@]}]}" "$org")") || die "starting a run"
        n=$((n + 1))
    done
    local list; list="$(IFS=,; echo "${ids[*]}")"
    local where="id = ANY(string_to_array('$list', ','))"
    local deadline=$((SECONDS + timeout))
    while :; do
        (( SECONDS < deadline )) || die "runs still going after $timeout s"
        left="$(psql "$DB_URL" -qXtA -c "SELECT count(*) FROM sync_runs WHERE $where AND status IN ('queued', 'running')")"
        [[ "$left" == 0 ]] && break
        sleep 0.2
    done
    echo "$(psql "$DB_URL" -qXtA -F ' ' -c "SELECT extract(epoch FROM max(finished_at) - min(started_at)), count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status <> 'succeeded') FROM sync_runs WHERE $where") $(( $(stat calls) - calls_before ))"
}

# The fewest listing pages of 100 that hold $1 objects (an empty listing is one page).
pages() { echo $(( ($1 + 99) / 100 > 0 ? ($1 + 99) / 100 : 1 )); }
