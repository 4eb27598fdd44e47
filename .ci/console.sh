#!/usr/bin/env bash
# Headless-browser test of the admin console (GET /admin) against a running gateway.
#
# The caller starts the gateway and the fake Stripe (`source .ci/stack.sh`) and exports
# GATEWAY_URL, ADMIN_TOKEN and FAKE_STRIPE_URL; this script never starts them.
# Screenshots of each state land in target/console/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for var in GATEWAY_URL ADMIN_TOKEN FAKE_STRIPE_URL; do
  if [ -z "${!var:-}" ]; then
    echo "console.sh: $var is not set; start the stack first (source .ci/stack.sh)" >&2
    exit 2
  fi
done

if [ ! -x /usr/bin/chromium ]; then
  echo "console.sh: installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "console.sh: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 2
fi

mkdir -p target/console
cd tests/browser
npm ci --no-audit --no-fund
# One file at a time: each drives its own browser on the one stack.
node --test --test-concurrency=1
