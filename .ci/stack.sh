# Sourced, not run: starts the local fake Stripe and a gateway against it (SQLite in a fresh
# directory), for the checks that drive the gateway from outside (TypeScript client, console,
# schemathesis). Uses the binaries `cargo test` (or `cargo build --bins --examples`) built.
#
#   source .ci/stack.sh    # exports GATEWAY_URL FAKE_STRIPE_URL ADMIN_TOKEN, and
#                          # STACK_JWT_SECRET (what organizer tokens are signed with)
#   stop_stack             # stops both (also on the sourcing shell's exit)
#
# The gateway dead-letters an event at its first failed attempt and does not retry Stripe
# calls (WEBHOOK_MAX_ATTEMPTS=1, STRIPE_MAX_RETRIES=0): a check that injects one fault at the
# fake sees its effect at once. Registering an organizer starts no backfill. The gateway's own
# webhooks may go to plain http on 127.0.0.1 (a test's receiver), and a failed delivery is not
# retried within a check's time (replay is how a check sends it again).

GATEWAY_BIN="${GATEWAY_BIN:-target/debug/stripe-gateway}"
FAKE_STRIPE_BIN="${FAKE_STRIPE_BIN:-target/debug/examples/fake-stripe}"
STACK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gateway-stack.XXXXXX")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Stops both and removes their directory; after a failure (a non-zero status, as the EXIT trap
# passes) it prints the end of the gateway's log first.
stop_stack() {
    local status=${1:-0}
    [ -n "${STACK_GATEWAY_PID:-}" ] && kill "$STACK_GATEWAY_PID" 2>/dev/null && wait "$STACK_GATEWAY_PID" 2>/dev/null
    [ -n "${STACK_FAKE_PID:-}" ] && kill "$STACK_FAKE_PID" 2>/dev/null && wait "$STACK_FAKE_PID" 2>/dev/null
    STACK_GATEWAY_PID= STACK_FAKE_PID=
    if [ "$status" != 0 ] && [ -f "$STACK_DIR/gateway.log" ]; then
        echo "--- the last 40 lines of the gateway's log ---" >&2
        tail -n 40 "$STACK_DIR/gateway.log" >&2
    fi
    rm -rf "$STACK_DIR"
    return 0
}
trap 'stop_stack $?' EXIT

# Waits until `url` answers 200, or fails naming the log of the process that should serve it.
wait_for() {
    local url=$1 pid=$2 log=$3
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FATAL: the process serving $url exited; its log ($log):" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "FATAL: $url did not answer within 60 s; log ($log):" >&2
    cat "$log" >&2
    return 1
}

start_stack() {
    local gateway_port fake_port
    gateway_port=$(free_port)
    fake_port=$(free_port)
    export GATEWAY_URL="http://127.0.0.1:$gateway_port"
    export FAKE_STRIPE_URL="http://127.0.0.1:$fake_port"
    export STACK_WEBHOOK_SECRET=whsec_local_stack
    export STACK_JWT_SECRET=local-stack-jwt-secret

    "$FAKE_STRIPE_BIN" --port "$fake_port" --webhook-url "$GATEWAY_URL/webhooks/stripe" \
        --webhook-secret "$STACK_WEBHOOK_SECRET" >"$STACK_DIR/fake-stripe.log" 2>&1 &
    STACK_FAKE_PID=$!

    env -i PATH="$PATH" HOME="${HOME:-/root}" \
        BIND_ADDRESS="127.0.0.1:$gateway_port" HTTP_WORKERS=2 \
        DATABASE_URL="sqlite://$STACK_DIR/gateway.db" \
        STRIPE_SECRET_KEY=sk_test_local_stack STRIPE_API_BASE="$FAKE_STRIPE_URL" \
        STRIPE_PLATFORM_ACCOUNT_ID=acct_1PlatformFake0001 \
        JWT_SECRET="$STACK_JWT_SECRET" AUDIT_HASH_KEY=local-stack-audit-key \
        STRIPE_WEBHOOK_SECRETS="$STACK_WEBHOOK_SECRET" \
        WEBHOOK_MAX_ATTEMPTS=1 STRIPE_MAX_RETRIES=0 WORKER_POLL_MS=200 \
        BACKFILL_ON_REGISTER=false RECONCILE_INTERVAL_SECS=0 \
        OUTBOUND_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 OUTBOUND_WEBHOOK_RETRY_BASE_MS=600000 \
        LOG_FORMAT=json RUST_LOG="${STACK_RUST_LOG:-info}" \
        "$GATEWAY_BIN" serve >"$STACK_DIR/gateway.log" 2>&1 &
    STACK_GATEWAY_PID=$!

    # The fake answers 401 to a request without a key; any answer means it listens.
    for _ in $(seq 1 300); do
        curl -sS -o /dev/null "$FAKE_STRIPE_URL/" 2>/dev/null && break
        sleep 0.2
    done
    wait_for "$GATEWAY_URL/readyz" "$STACK_GATEWAY_PID" "$STACK_DIR/gateway.log" || return 1
    ADMIN_TOKEN=$(JWT_SECRET="$STACK_JWT_SECRET" "$GATEWAY_BIN" token --role admin --ttl-secs 7200)
    export ADMIN_TOKEN
    echo "stack: gateway $GATEWAY_URL, fake Stripe $FAKE_STRIPE_URL, logs in $STACK_DIR"
}

start_stack
