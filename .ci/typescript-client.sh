#!/usr/bin/env bash
# The generated TypeScript client (clients/typescript): installs its pinned packages, checks that
# the committed types are what openapi.yaml generates, then runs its tests against a running
# gateway. Expects GATEWAY_URL, ADMIN_TOKEN and FAKE_STRIPE_URL exported by the caller
# (`source .ci/stack.sh` starts a gateway and a fake Stripe and exports them); starts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

for name in GATEWAY_URL ADMIN_TOKEN FAKE_STRIPE_URL; do
    if [ -z "${!name:-}" ]; then
        echo "FATAL: $name is not set; start the stack first (source .ci/stack.sh)" >&2
        exit 1
    fi
done
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    echo "FATAL: the TypeScript client needs Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi

cd clients/typescript

log "TypeScript client: npm ci (node $(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund

log "TypeScript client: src/schema.ts is what openapi.yaml generates"
committed=$(mktemp)
trap 'rm -f "$committed"' EXIT
cp src/schema.ts "$committed"
npm run --silent generate
if ! diff -u --label "src/schema.ts (committed)" --label "src/schema.ts (generated)" \
    "$committed" src/schema.ts; then
    echo "FATAL: clients/typescript/src/schema.ts is stale: regenerate with" \
        "'cd clients/typescript && npm run generate' and commit it" >&2
    exit 1
fi

log "TypeScript client: build and test against $GATEWAY_URL"
npm test
