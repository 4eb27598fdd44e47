#!/usr/bin/env bash
# Runs the README's "Try it on one machine" walk-through exactly as written: the first fenced
# block's commands (the fake Stripe and the gateway) in the background, then the second block in
# one shell. Fails when a server does not start, a request answers other than 2xx (curl -f), a
# command fails, or anything the block prints is `null`. The only addition is DATABASE_URL, a
# fresh SQLite file, so that a rerun starts from an empty gateway.
#
#   bash .ci/walkthrough.sh
#
# Needs ports 8080, 8090 and 12111 free, curl and jq (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v jq >/dev/null; then
    echo "jq is missing; installing it"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/walkthrough.XXXXXX")
export DATABASE_URL="sqlite://$work/gateway.db"
pids=()
finish() {
    local status=$?
    # Each server runs in a session of its own: the whole group (cargo and what it runs) stops.
    for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
    # The block's own receiver, when the block stopped before its last line.
    pkill -f 'examples/webhook_receiver.py' 2>/dev/null || true
    wait 2>/dev/null || true
    if [ "$status" != 0 ]; then
        for log in "$work"/server*.log; do
            echo "--- the end of $log ---" >&2
            tail -n 20 "$log" >&2
        done
    fi
    rm -rf "$work"
}
trap finish EXIT

# The section's fenced `sh` blocks, each into its own file; continuation lines joined.
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
text = open("README.md").read()
section = text.split("## Try it on one machine", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
assert len(blocks) >= 2, "the walk-through has its two sh blocks"
servers = [line for line in blocks[0].replace("\\\n", " ").splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
for n, command in enumerate(servers):
    open(f"{work}/server{n}.sh", "w").write(command + "\n")
open(f"{work}/walk.sh", "w").write(blocks[1])
PY

# What the block's two `cargo run`s build, built first: `cargo run -- serve` builds the binary
# without the dev-dependencies, so with other features than the tests' builds, and compiling that
# inside the servers' start wait below would make this check's outcome the machine's speed.
cargo build --locked --quiet
cargo build --locked --quiet --example fake-stripe

for script in "$work"/server*.sh; do
    setsid bash "$script" >"${script%.sh}.log" 2>&1 &
    pids+=("$!")
done
up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ]; }
for _ in $(seq 1 600); do
    if up localhost:8080/readyz 200 && up localhost:12111/v1/account 401; then
        break
    fi
    sleep 0.2
done
up localhost:8080/readyz 200 || { echo "FATAL: the gateway did not start" >&2; exit 1; }
up localhost:12111/v1/account 401 || { echo "FATAL: the fake Stripe did not start" >&2; exit 1; }

# The block as a user pastes it, in one shell that stops at the first failure, with every
# request required to answer 2xx.
output="$work/walk.out"
bash -c '
set -euo pipefail
curl() { command curl -f "$@"; }
export -f curl
source "$1"
' walkthrough "$work/walk.sh" | tee "$output"
if grep -qx 'null' "$output"; then
    echo "FATAL: the walk-through printed null" >&2
    exit 1
fi
grep -q '"payment_status":"paid"' "$output" || {
    echo "FATAL: the checkout never showed as paid" >&2
    exit 1
}
grep -q "^checkout.completed cs_" "$output" || {
    echo "FATAL: the app's receiver never printed checkout.completed" >&2
    exit 1
}
echo "the README's walk-through ran as written"
