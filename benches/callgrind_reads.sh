#!/usr/bin/env bash
# Instructions the gateway executes per customer read by email, counted by callgrind: the
# count repeats for the same binary and inputs whatever else the machine does, so two builds
# can be compared where wall-clock benchmarks drown the difference in noise.
#
#   bash benches/callgrind_reads.sh [BINARY ...]     # default: target/release/stripe-gateway
#   REQUESTS=2000 bash benches/callgrind_reads.sh /tmp/gw-before /tmp/gw-after
#
# Per binary: a fresh PostgreSQL database with 1 organizer and 1,000 customers, the gateway under
# `valgrind --tool=callgrind` (1 HTTP worker, pool of 2), 200 warm-up reads, counters zeroed,
# REQUESTS reads by email over one keep-alive connection, counters dumped: instructions per read.
# Needs valgrind (callgrind_control), curl, psql; PostgreSQL at PG_ADMIN_URL. With TOP=N, also
# lists the N functions with the most instructions of their own (callgrind_annotate; frames that
# span the whole run are left out).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${REQUESTS:-2000}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_URL="${PG_ADMIN_URL%/*}/callgrind_bench"
PORT=18931
WORK="$(mktemp -d)"
BINARIES=("$@")
[ ${#BINARIES[@]} -gt 0 ] || BINARIES=(target/release/stripe-gateway)
ORG=00000000-0000-7000-8000-00000000c0de
ACCOUNT=acct_1Callgrind

pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    psql "$PG_ADMIN_URL" -qXc "DROP DATABASE IF EXISTS callgrind_bench WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# `curl -K` input: the token once (headers apply to every URL), then one read of user<n> per
# request, answers discarded.
reads() {
    local token=$1 count=$2
    printf 'header = "Authorization: Bearer %s"\n' "$token"
    for n in $(seq 1 "$count"); do
        printf 'url = "http://127.0.0.1:%s/v1/organizers/%s/customers?email=user%s%%40example.com"\n' \
            "$PORT" "$ORG" $(((n % 1000) + 1))
        printf 'output = "/dev/null"\n'
    done
}

for binary in "${BINARIES[@]}"; do
    PGOPTIONS="-c client_min_messages=warning" psql "$PG_ADMIN_URL" -qXc "DROP DATABASE IF EXISTS callgrind_bench WITH (FORCE)" >/dev/null
    psql "$PG_ADMIN_URL" -qXc "CREATE DATABASE callgrind_bench" >/dev/null
    DATABASE_URL="$DB_URL" RUST_LOG=warn "$binary" migrate >/dev/null 2>&1
    psql "$DB_URL" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at)
VALUES ('$ORG', 'Callgrind', '$ACCOUNT', NULL, 'active', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized, name, phone,
                       metadata, stripe_customer_id, status, create_attempt,
                       last_failure_at, version, created_at, updated_at, ever_active)
SELECT '00000000-0000-7000-8000-' || lpad(n::text, 12, '0'), '$ORG', '$ACCOUNT',
       'user' || n || '@example.com', 'user' || n || '@example.com', NULL, NULL,
       '{}', 'cus_cg' || n, 'active', 0, NULL, 1,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', TRUE
FROM generate_series(1, 1000) AS n;
SQL
    token=$(JWT_SECRET=callgrind-secret "$binary" token --role organizer --org "$ORG" --ttl-secs 3600)
    reads "$token" 200 >"$WORK/warm.cfg"
    reads "$token" "$REQUESTS" >"$WORK/measured.cfg"

    env STRIPE_SECRET_KEY=sk_test_callgrind STRIPE_API_BASE=http://127.0.0.1:9 \
        JWT_SECRET=callgrind-secret AUDIT_HASH_KEY=callgrind-key DATABASE_URL="$DB_URL" \
        DATABASE_POOL_SIZE=2 BIND_ADDRESS="127.0.0.1:$PORT" HTTP_WORKERS=1 RUN_WORKERS=false \
        RECONCILE_INTERVAL_SECS=0 RUST_LOG=warn \
        valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file="$WORK/cg.out" \
        "$binary" serve >"$WORK/gateway.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
        sleep 0.2
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz"
    curl -sS -K "$WORK/warm.cfg"
    callgrind_control -z "$pid" >/dev/null 2>&1
    curl -sS -K "$WORK/measured.cfg" -w '%{http_code}\n' | sort | uniq -c >"$WORK/codes"
    callgrind_control -d "$pid" >/dev/null 2>&1
    grep -q "^ *$REQUESTS 200$" "$WORK/codes" || { cat "$WORK/codes" >&2; echo "not every read answered 200" >&2; exit 1; }
    # The newest dump holds the measured reads only (counters were zeroed before them).
    dump=$(ls -t "$WORK"/cg.out* | head -n 1)
    total=$(awk '/^summary:|^totals:/ {print $2; exit}' "$dump")
    printf '%s: %s instructions for %s reads = %s per read\n' \
        "$binary" "$total" "$REQUESTS" "$((total / REQUESTS))"
    if [ "${TOP:-0}" -gt 0 ]; then
        callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null |
            awk '/^Ir/ {on=1; next} on && NF' |
            # Frames around the whole run (thread start, runtime loops, main) come out with
            # their callees' cost in a build without debug info; they are left out.
            awk '{p=$2; gsub(/[(%)]/, "", p)} p + 0 < 30 && !/PROGRAM TOTALS|below main|libc_start/' |
            awk -v r="$REQUESTS" '{n=$1; gsub(",", "", n); $1=""} n >= r {printf "    %8d per read %s\n", n / r, $0}' |
            head -n "$TOP" | cut -c1-150
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid=
    rm -f "$WORK"/cg.out*
done
