#!/usr/bin/env bash
# Load test, on PostgreSQL, of the two customer routes that never call Stripe, with a plain
# actix-web hello-world measured in the same run as the ceiling:
#   hello-world             GET  /                                       (examples/hello.rs)
#   find by email           GET  /v1/organizers/{org}/customers?email=   (rows, never Stripe)
#   entitlements            GET  /v1/organizers/{org}/customers/{id}/entitlements (rows)
#   upsert, existing        POST /v1/organizers/{org}/customers {"email"} (200 from the database)
#   the same, first key     ... with an Idempotency-Key never sent before (the key is kept)
#   the same, replayed      ... with one of 100 keys sent once before the run (the kept answer)
# The gateway runs with STRIPE_API_BASE=http://127.0.0.1:9, where nothing listens: a request that
# called Stripe would fail (503 stripe_unavailable). Every target is checked to answer 200 before
# it is loaded, and a run with any non-2xx answer under load fails.
#
# Usage (from the repository root): bash benches/customers.sh
# Settings (environment; defaults in brackets):
#   DURATION [15s]  CONNECTIONS [32]  THREADS [2]   wrk -d/-c/-t of each measured run
#   WARMUP [5s]                                      wrk run before each measurement, discarded
#   RESTART [unset]                                  set: last, PostgreSQL is restarted under load
#                                                    (pg_ctlcluster; needs root): every answer must
#                                                    be 200 or 503, and the gateway must answer 200
#                                                    again afterwards without a restart of its own
#   PROFILE [unset]                                  1: perf samples the gateway during the first
#                                                    gateway target and the summary lists its top
#                                                    functions (needs perf); other text: during the
#                                                    first target whose label holds it ("new key")
#   WORKERS [nproc]                                  HTTP_WORKERS of the gateway and of hello
#   POOL [10]                                        DATABASE_POOL_SIZE of the gateway
#   CUSTOMERS [10000]                                seeded customers (user1..userN@example.com)
#   EMAILS [random]                                  `random`: each request picks a random userN;
#                                                    `fixed`: every request uses user1
#   PG_ADMIN_URL [postgres://postgres@127.0.0.1:5432/postgres]   where CREATE/DROP DATABASE run
#   BENCH_DB [gateway_bench]                         the scratch database, recreated and dropped
#   GATEWAY_BIN, HELLO_BIN [unset]                   prebuilt binaries to measure instead of
#                                                    building this checkout (e.g. copies of an
#                                                    earlier commit's, to compare in one sitting);
#                                                    with both set nothing is built
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
WARMUP="${WARMUP:-5s}"
PROFILE="${PROFILE:-}"
RESTART="${RESTART:-}"
WORKERS="${WORKERS:-$(nproc)}"
POOL="${POOL:-10}"
CUSTOMERS="${CUSTOMERS:-10000}"
EMAILS="${EMAILS:-random}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
BENCH_DB="${BENCH_DB:-gateway_bench}"
DB_URL="${PG_ADMIN_URL%/*}/$BENCH_DB"

[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "BENCH_DB must be a plain identifier" >&2; exit 2; }
[[ "$EMAILS" == random || "$EMAILS" == fixed ]] || { echo "EMAILS must be random or fixed" >&2; exit 2; }
[[ "$CUSTOMERS" =~ ^[1-9][0-9]*$ ]] || { echo "CUSTOMERS must be a positive integer" >&2; exit 2; }

GATEWAY="${GATEWAY_BIN:-target/release/stripe-gateway}"
HELLO="${HELLO_BIN:-target/release/examples/hello}"
JWT_SECRET_VALUE="bench-jwt-secret"
WORK="$(mktemp -d)"
GATEWAY_PID=""
HELLO_PID=""
DB_CREATED=""

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "$GATEWAY_PID" "$HELLO_PID"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
    done
    for pid in "$GATEWAY_PID" "$HELLO_PID"; do
        [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$DB_CREATED" ]]; then
        psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 \
            || echo "warning: could not drop database $BENCH_DB" >&2
    fi
    if [[ $status -ne 0 && -s "$WORK/gateway.log" ]]; then
        echo "--- last lines of the gateway log ---" >&2
        tail -n 20 "$WORK/gateway.log" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on (a connect to it is refused).
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
        [[ "$port" == "${1:-}" ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

# --- tools -------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available; install wrk"
    say "installing wrk"
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
fi
for tool in psql pgbench curl cargo; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
psql "$PG_ADMIN_URL" -qXtAc 'SELECT 1' >/dev/null || die "PostgreSQL does not answer at $PG_ADMIN_URL"

# --- build -------------------------------------------------------------------------------------
BUILD_CMD=(cargo build --release --bin stripe-gateway --example hello)
[[ -n "${GATEWAY_BIN:-}" ]] && BUILD_CMD=(cargo build --release --example hello)
[[ -n "${GATEWAY_BIN:-}" && -n "${HELLO_BIN:-}" ]] && BUILD_CMD=(true)
say "building: ${BUILD_CMD[*]}"
"${BUILD_CMD[@]}"

# --- database ----------------------------------------------------------------------------------
say "database $BENCH_DB: create, migrate, seed 1 organizer + $CUSTOMERS customers"
PGOPTIONS="-c client_min_messages=warning" psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null
psql "$PG_ADMIN_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $BENCH_DB" >/dev/null
DB_CREATED=1
DATABASE_URL="$DB_URL" RUST_LOG=warn "$GATEWAY" migrate >"$WORK/migrate.log" 2>&1 \
    || { cat "$WORK/migrate.log" >&2; die "stripe-gateway migrate"; }
ORG="$(cat /proc/sys/kernel/random/uuid)"
ACCOUNT="acct_1Bench"
psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
BEGIN;
INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at)
VALUES ('$ORG', 'Bench Events', '$ACCOUNT', NULL, 'active',
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized, name, phone,
                       metadata, stripe_customer_id, status, create_attempt,
                       last_failure_at, version, created_at, updated_at, ever_active)
SELECT '00000000-0000-7000-8000-' || lpad(n::text, 12, '0'), '$ORG', '$ACCOUNT',
       'user' || n || '@example.com', 'user' || n || '@example.com', NULL, NULL,
       '{}', 'cus_bench' || n, 'active', 0, NULL, 1,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', TRUE
FROM generate_series(1, $CUSTOMERS) AS n;
-- Each customer subscribed, with one feature: what the entitlements read returns.
INSERT INTO subscriptions (stripe_account_id, id, stripe_customer_id, status, items,
                           current_period_end, cancel_at_period_end, trial_end, metadata,
                           deleted, fetched_at)
SELECT '$ACCOUNT', 'sub_bench' || n, 'cus_bench' || n, 'active',
       '[{"id": "si_bench' || n || '", "price": "price_bench", "quantity": 1}]',
       NULL, FALSE, NULL, '{}', FALSE, now() AT TIME ZONE 'UTC'
FROM generate_series(1, $CUSTOMERS) AS n;
INSERT INTO entitlements (stripe_account_id, stripe_customer_id, features, fetched_at)
SELECT '$ACCOUNT', 'cus_bench' || n, '["pro"]', now() AT TIME ZONE 'UTC'
FROM generate_series(1, $CUSTOMERS) AS n;
COMMIT;
ANALYZE;
SQL

# --- servers -----------------------------------------------------------------------------------
HELLO_PORT="$(free_port)"
GATEWAY_PORT="$(free_port "$HELLO_PORT")"
GATEWAY_ENV=(STRIPE_SECRET_KEY=sk_test_bench STRIPE_API_BASE=http://127.0.0.1:9
    JWT_SECRET="$JWT_SECRET_VALUE" AUDIT_HASH_KEY=bench-audit-key DATABASE_URL="$DB_URL"
    DATABASE_POOL_SIZE="$POOL" BIND_ADDRESS="127.0.0.1:$GATEWAY_PORT" HTTP_WORKERS="$WORKERS"
    RUST_LOG=warn LOG_FORMAT=json)
HELLO_ENV=(HTTP_WORKERS="$WORKERS")
say "starting hello on :$HELLO_PORT and the gateway on :$GATEWAY_PORT ($WORKERS workers each)"
env "${HELLO_ENV[@]}" "$HELLO" "127.0.0.1:$HELLO_PORT" >"$WORK/hello.log" 2>&1 &
HELLO_PID=$!
env "${GATEWAY_ENV[@]}" "$GATEWAY" serve >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!

wait_for() { # name pid url
    for _ in $(seq 1 300); do
        kill -0 "$2" 2>/dev/null || { cat "$WORK/$1.log" >&2; die "$1 exited during start-up"; }
        curl -sf -o /dev/null "$3" && return
        sleep 0.1
    done
    die "$1 not ready after 30 s ($3)"
}
wait_for hello "$HELLO_PID" "http://127.0.0.1:$HELLO_PORT/"
wait_for gateway "$GATEWAY_PID" "http://127.0.0.1:$GATEWAY_PORT/readyz"

TOKEN="$(JWT_SECRET="$JWT_SECRET_VALUE" "$GATEWAY" token --role organizer --org "$ORG" --ttl-secs 7200)"
export BENCH_ORG="$ORG" BENCH_TOKEN="$TOKEN" BENCH_CUSTOMERS="$CUSTOMERS" BENCH_EMAILS="$EMAILS"

# --- every target answers 200 before any load --------------------------------------------------
expect_200() { # label expected-substring curl-args...
    local label=$1 want=$2 status
    shift 2
    status="$(curl -s -o "$WORK/body" -w '%{http_code}' "$@")" || status="curl-error"
    if [[ "$status" != 200 ]] || ! grep -qF -- "$want" "$WORK/body"; then
        echo "request: curl $*" | sed "s/$TOKEN/<token>/g" >&2
        echo "status:  $status" >&2
        echo "body:    $(head -c 2000 "$WORK/body")" >&2
        die "$label did not answer 200 with $want"
    fi
    say "check: $label -> 200"
}
N=$(( (CUSTOMERS + 1) / 2 ))
CUSTOMERS_URL="http://127.0.0.1:$GATEWAY_PORT/v1/organizers/$ORG/customers"
expect_200 "hello" "hello" "http://127.0.0.1:$HELLO_PORT/"
expect_200 "GET customers?email=user$N" "cus_bench$N" \
    -H "Authorization: Bearer $TOKEN" "$CUSTOMERS_URL?email=user$N%40example.com"
expect_200 "GET customers/{id}/entitlements (user$N)" "sub_bench$N" \
    -H "Authorization: Bearer $TOKEN" "$CUSTOMERS_URL/$(printf '00000000-0000-7000-8000-%012d' "$N")/entitlements"
expect_200 "POST customers {email: user$N} (existing)" "cus_bench$N" \
    -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "{\"email\": \"user$N@example.com\"}" "$CUSTOMERS_URL"
# The keys the replay target sends, each used once now: under load every answer is a replay.
for n in $(seq 1 100); do
    curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -H "Idempotency-Key: replay-$n" --data "{\"email\": \"user$n@example.com\"}" "$CUSTOMERS_URL" \
        || die "seeding idempotency key replay-$n"
done
# Every Lua mode, once each through wrk, against the same checks (one request per connection).
for mode in find entitlements upsert first replay; do
    wrk -t1 -c1 -d1s -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- "$mode" >"$WORK/probe.txt" 2>&1 \
        || { cat "$WORK/probe.txt" >&2; die "wrk with benches/customers.lua -- $mode"; }
    if grep -q 'Non-2xx\|Socket errors' "$WORK/probe.txt"; then
        cat "$WORK/probe.txt" >&2
        die "benches/customers.lua -- $mode got errors from the gateway"
    fi
done

# --- load ----------------------------------------------------------------------------------------
# CPU time, in clock ticks, of a process (all its threads) and of the local PostgreSQL processes;
# busy and total ticks of the whole machine.
TICKS_PER_SEC="$(getconf CLK_TCK)"
proc_ticks() { # pids... -> utime + stime summed
    local pid sum=0 t
    for pid in "$@"; do
        t="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null)" || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}
cpu_snapshot() { # server-pid -> "machine_busy machine_total server postgres"
    local busy_total
    busy_total="$(awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat)"
    # shellcheck disable=SC2046
    echo "$busy_total $(proc_ticks "$1") $(proc_ticks $(pgrep -u postgres 2>/dev/null || true))"
}

seconds() { # wrk duration (15s, 1m) -> seconds
    case "$1" in
        *s) echo "${1%s}" ;;
        *m) echo $(( ${1%m} * 60 )) ;;
        *) echo "$1" ;;
    esac
}
declare -a ROWS CMDS RPS
PROFILED=""
FAILED=""
HELLO_RPS=""
run() { # label server-pid wrk-args...
    local label=$1 server_pid=$2 out rps p50 p99 non2xx sockerr before after
    shift 2
    out="$WORK/run.txt"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" >/dev/null 2>&1 || true
    CMDS+=("wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $*")
    say "measuring $label: ${CMDS[-1]}"
    local perf_pid=""
    if [[ -n "$PROFILE" && "$server_pid" == "$GATEWAY_PID" && ! -e "$WORK/perf.data" ]] \
        && [[ "$PROFILE" == 1 || "$label" == *"$PROFILE"* ]]; then
        perf record -q -F 499 -g -p "$server_pid" -o "$WORK/perf.data" -- sleep "$(seconds "$DURATION")" \
            >"$WORK/perf.log" 2>&1 &
        perf_pid=$!
        PROFILED="$label"
    fi
    before="$(cpu_snapshot "$server_pid")"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed on $label"; }
    after="$(cpu_snapshot "$server_pid")"
    [[ -n "$perf_pid" ]] && wait "$perf_pid"
    # Average cores busy during the run: server, PostgreSQL, everything else (mostly wrk), idle.
    local cores
    cores="$(awk -v b="$before" -v a="$after" -v n="$(nproc)" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        total = y[2] - x[2]; if (total <= 0) { print "?"; exit }
        busy = (y[1] - x[1]) / total * n; srv = (y[3] - x[3]) / total * n; pg = (y[4] - x[4]) / total * n;
        other = busy - srv - pg; if (other < 0) other = 0;
        printf "%.2f/%.2f/%.2f/%.2f", srv, pg, other, n - busy }')"
    sed 's/^/    /' "$out" >&2
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(awk '/Socket errors:/ {sub(/^ *Socket errors: */, ""); print}' "$out")"
    [[ -z "$HELLO_RPS" ]] && HELLO_RPS="$rps"
    local share
    share="$(awk -v r="$rps" -v h="$HELLO_RPS" 'BEGIN { printf "%.1f%%", 100 * r / h }')"
    ROWS+=("$(printf '%-40s %11s %9s %9s %9s %8s  %s' "$label" "$rps" "$p50" "$p99" "$share" "${non2xx:-0}" "$cores")")
    RPS+=("$rps")
    if [[ -n "$non2xx" && "$non2xx" != 0 ]]; then FAILED+=" $label: $non2xx non-2xx;"; fi
    if [[ -n "$sockerr" ]]; then FAILED+=" $label: socket errors ($sockerr);"; fi
}
run "hello-world GET / (ceiling)" "$HELLO_PID" "http://127.0.0.1:$HELLO_PORT/"
run "GET customers?email= ($EMAILS email)" "$GATEWAY_PID" -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- find
run "GET .../entitlements ($EMAILS customer)" "$GATEWAY_PID" -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- entitlements
run "POST customers, existing ($EMAILS email)" "$GATEWAY_PID" -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- upsert
# The same upsert with Idempotency-Key: a first request (key stored with its answer), then
# replays of kept answers. Every first must run, every replay must be one.
replays_in_run() { awk -F'replayed=' '/^statuses:/ { print $2 }' "$WORK/run.txt"; }
run "POST customers, existing, new key" "$GATEWAY_PID" -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- first
[[ "$(replays_in_run)" == 0 ]] || FAILED+=" first keys: $(replays_in_run) answers were replays;"
run "POST customers, existing, replayed key" "$GATEWAY_PID" -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- replay
REPLAYS="$(replays_in_run)"
REPLAY_TOTAL="$(awk -F'[ =]' '/^statuses:/ { print $3 + $5 + $7 }' "$WORK/run.txt")"
[[ "$REPLAYS" == "$REPLAY_TOTAL" ]] || FAILED+=" replayed keys: $REPLAYS replays of $REPLAY_TOTAL answers;"

# --- the database's ceilings --------------------------------------------------------------------
# pgbench runs the statements a read ran before this read path was reworked, prepared, with as
# many clients as wrk has connections, over the same rows: for a read by email, the organizer by
# id then the customer by account and email (benches/read_ceiling.sql); for entitlements, the
# organizer, the customer by account and id, its subscriptions and its features
# (benches/entitlements_ceiling.sql). The gateway's rate over one says how close it comes to what
# PostgreSQL alone serves for that work.
ceiling() { # script -> tx/s
    local cmd=(pgbench -n -M prepared -c "$CONNECTIONS" -j "$THREADS" -f "$1"
        -D "org=$ORG" -D "account=$ACCOUNT" -D "customers=$CUSTOMERS")
    "${cmd[@]}" -T "$(seconds "$WARMUP")" "$DB_URL" >/dev/null 2>&1 || true
    CMDS+=("${cmd[*]} -T $(seconds "$DURATION") $DB_URL")
    say "measuring the ceiling: ${CMDS[-1]}"
    "${cmd[@]}" -T "$(seconds "$DURATION")" "$DB_URL" >"$WORK/pgbench.txt" 2>&1 \
        || { cat "$WORK/pgbench.txt" >&2; die "pgbench failed"; }
    sed 's/^/    /' "$WORK/pgbench.txt" >&2
    local tps; tps="$(awk '/^tps = / {print $3; exit}' "$WORK/pgbench.txt")"
    [[ -n "$tps" ]] || die "pgbench printed no tps"
    echo "$tps"
}
CEILING_TPS="$(ceiling benches/read_ceiling.sql)"
ENTITLEMENTS_CEILING_TPS="$(ceiling benches/entitlements_ceiling.sql)"
GATEWAY_RSS="$(awk '/^VmHWM:/ {printf "%.0f MiB", $2 / 1024}' "/proc/$GATEWAY_PID/status")"

# --- nothing was written -------------------------------------------------------------------------
# (checked before the restart phase, which may leave a connection's work unfinished)
STATE="$(psql "$DB_URL" -qXtA -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE version = 1 AND status = 'active'),
    (SELECT count(*) FROM audit_events) FROM customers")"
read -r ROWS_NOW ROWS_UNTOUCHED AUDIT_ROWS <<<"$STATE"
GATEWAY_LOG_LINES="$(wc -l <"$WORK/gateway.log")"

# --- summary -------------------------------------------------------------------------------------
CPU_MODEL="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
cat <<EOF

================================ customers benchmark ================================
date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (with uncommitted changes in src/Cargo)')
machine:   nproc=$(nproc), CPU "$CPU_MODEL", $(uname -sr)
           NOTE: only $(nproc) cores, shared by wrk, the server under test and PostgreSQL;
           the numbers are a comparison within this run, not capacity figures.
postgres:  $(psql "$PG_ADMIN_URL" -qXtAc 'SHOW server_version'), database $BENCH_DB (dropped at exit),
           1 organizer, $CUSTOMERS customers ($ROWS_NOW after the run, $ROWS_UNTOUCHED still version 1; $AUDIT_ROWS audit rows)
gateway:   $WORKERS HTTP workers, DATABASE_POOL_SIZE=$POOL, STRIPE_API_BASE=http://127.0.0.1:9 (closed port:
           any Stripe call would answer 503), organizer token; $GATEWAY_LOG_LINES log lines at RUST_LOG=warn
hello:     examples/hello.rs, $WORKERS workers
emails:    $( [[ "$EMAILS" == random ]] && echo "a random user<n>@example.com, n in 1..$CUSTOMERS, per request (Lua request())" || echo "fixed: user1@example.com on every request")
load:      wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), -t$THREADS -c$CONNECTIONS -d$DURATION after a $WARMUP warm-up per target

commands:
  $ ${BUILD_CMD[*]}
  $ env HTTP_WORKERS=$WORKERS $HELLO 127.0.0.1:$HELLO_PORT
  $ env $(printf '%s ' "${GATEWAY_ENV[@]}")$GATEWAY serve
  $ export BENCH_ORG=$ORG BENCH_CUSTOMERS=$CUSTOMERS BENCH_EMAILS=$EMAILS BENCH_TOKEN=\$(JWT_SECRET=$JWT_SECRET_VALUE $GATEWAY token --role organizer --org $ORG --ttl-secs 7200)
EOF
for cmd in "${CMDS[@]}"; do echo "  \$ $cmd"; done
echo
printf '%-40s %11s %9s %9s %9s %8s  %s\n' target "requests/s" p50 p99 "of hello" "non-2xx" "cores: server/postgres/other(wrk)/idle"
for row in "${ROWS[@]}"; do echo "$row"; done
echo
printf 'ceiling:   pgbench, the 2 statements a read by email ran before (benches/read_ceiling.sql): %s tx/s\n' "$CEILING_TPS"
printf '           pgbench, the 4 statements an entitlements read ran before (benches/entitlements_ceiling.sql): %s tx/s\n' "$ENTITLEMENTS_CEILING_TPS"
ratio() { awk -v r="$1" -v c="$2" 'BEGIN { printf "%.2f", r / c }'; }
printf 'of ceiling: GET customers?email= %sx, GET .../entitlements %sx, POST customers (existing) %sx (of the first)\n' \
    "$(ratio "${RPS[1]}" "$CEILING_TPS")" "$(ratio "${RPS[2]}" "$ENTITLEMENTS_CEILING_TPS")" \
    "$(ratio "${RPS[3]}" "$CEILING_TPS")"
echo "gateway:   peak RSS $GATEWAY_RSS"
echo "====================================================================================="
if [[ -n "$PROFILED" ]]; then
    echo
    echo "profile of the gateway during \"$PROFILED\" (perf, 499 Hz; self time, functions over 1%):"
    perf report -i "$WORK/perf.data" --no-children --stdio --sort symbol --percent-limit 1 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | sed -E 's/ +-? +-? *$//' | cut -c1-110 | head -40
fi

if [[ -n "$RESTART" ]]; then
    # PostgreSQL restarts 5 s into a 20 s load: pooled connections die, new ones are refused for
    # a moment. Every answer must be 200 or 503 (never a 500), and once PostgreSQL is back the
    # same gateway process must answer 200 again.
    CLUSTER="$(pg_lsclusters -h | awk '$3 == 5432 { print $1, $2; exit }')"
    [[ -n "$CLUSTER" ]] || die "RESTART: no local cluster on port 5432"
    say "restarting PostgreSQL ($CLUSTER) under load"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d20s -s benches/customers.lua "http://127.0.0.1:$GATEWAY_PORT" -- find \
        >"$WORK/restart.txt" 2>&1 &
    WRK_PID=$!
    sleep 5
    RESTART_STARTED=$(date +%s.%N)
    # shellcheck disable=SC2086
    pg_ctlcluster --skip-systemctl-redirect $CLUSTER restart -m fast
    RESTART_DONE=$(date +%s.%N)
    wait "$WRK_PID" || { cat "$WORK/restart.txt" >&2; die "wrk failed during the restart"; }
    sed 's/^/    /' "$WORK/restart.txt" >&2
    read -r R_OK R_503 R_OTHER <<<"$(awk -F'[ =]' '/^statuses:/ { print $3, $5, $7 }' "$WORK/restart.txt")"
    RECOVERED=""
    for _ in $(seq 1 100); do
        if curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$CUSTOMERS_URL?email=user1%40example.com"; then
            RECOVERED=1
            break
        fi
        sleep 0.1
    done
    echo
    printf 'restart:   PostgreSQL restarted in %.1f s under load; answers: 200=%s 503=%s other=%s; %s\n' \
        "$(awk -v a="$RESTART_STARTED" -v b="$RESTART_DONE" 'BEGIN { print b - a }')" \
        "$R_OK" "$R_503" "$R_OTHER" "$( [[ -n "$RECOVERED" ]] && echo "200 again afterwards, same process" || echo "NOT RECOVERED")"
    [[ "$R_OTHER" == 0 ]] || FAILED+=" restart: $R_OTHER answers other than 200 or 503;"
    [[ -n "$RECOVERED" ]] || FAILED+=" restart: the gateway did not answer 200 again;"
    kill -0 "$GATEWAY_PID" 2>/dev/null || FAILED+=" restart: the gateway exited;"
fi

if [[ -n "$FAILED" ]]; then
    die "errors under load:$FAILED"
fi
if [[ "$ROWS_NOW" != "$CUSTOMERS" || "$ROWS_UNTOUCHED" != "$CUSTOMERS" ]]; then
    die "the customers table changed during the run ($ROWS_NOW rows, $ROWS_UNTOUCHED untouched)"
fi
