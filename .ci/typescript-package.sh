#!/usr/bin/env bash
# The TypeScript client as an app installs it: `npm pack`, the tarball installed into a scratch
# project with the client's pinned TypeScript, clients/typescript/consumer/main.ts type-checked
# under NodeNext (the ESM entry point) and Node10 resolution (`main`/`types`, the CommonJS one),
# then both builds run against the stack. Expects GATEWAY_URL, ADMIN_TOKEN and FAKE_STRIPE_URL
# (`source .ci/stack.sh`); starts nothing.
set -euo pipefail
cd "$(dirname "$0")/../clients/typescript"

log() { printf '\n==> %s\n' "$*"; }

for name in GATEWAY_URL ADMIN_TOKEN FAKE_STRIPE_URL; do
    if [ -z "${!name:-}" ]; then
        echo "FATAL: $name is not set; start the stack first (source .ci/stack.sh)" >&2
        exit 1
    fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/packed-client.XXXXXX")
trap 'rm -rf "$work"' EXIT

log "TypeScript package: npm pack"
npm ci --no-audit --no-fund >/dev/null
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
tar -tzf "$work/$tarball" | sed 's/^/  /'

log "TypeScript package: installed from $tarball into a scratch project"
mkdir "$work/app"
cp consumer/main.ts "$work/app/"
typescript=$(node -p 'require("./package.json").devDependencies.typescript')
types_node=$(node -p 'require("./package.json").devDependencies["@types/node"]')
cd "$work/app"
printf '{"name": "packed-client-check", "private": true, "type": "module"}\n' >package.json
npm install --no-audit --no-fund "$work/$tarball" "typescript@$typescript" "@types/node@$types_node" >/dev/null
config() {
    local module=$1 resolution=$2 out=$3
    cat <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "DOM"], "types": ["node"], "strict": true,
    "module": "$module", "moduleResolution": "$resolution", "outDir": "$out", "skipLibCheck": false
  },
  "files": ["main.ts"]
}
JSON
}
config NodeNext NodeNext esm >tsconfig.nodenext.json
config CommonJS Node10 cjs >tsconfig.node10.json

log "TypeScript package: type-check and build under NodeNext (ESM) and Node10 (CommonJS)"
npx tsc --project tsconfig.nodenext.json
npx tsc --project tsconfig.node10.json
printf '{"type": "commonjs"}\n' >cjs/package.json

log "TypeScript package: run both builds against $GATEWAY_URL"
node esm/main.js
node cjs/main.js
