#!/usr/bin/env bash
# Regenerates the clients' typed APIs from the OpenAPI document the server serves (`custos
# openapi`), with the pinned generators scripts/test-deps.sh installs: the Python client's
# clients/python/custos_client/generated (openapi-python-client) and the TypeScript client's
# clients/typescript/src/schema.d.ts (openapi-typescript). crates/custos-cli/tests/clients.rs fails when the committed
# code differs from what this produces.
#
#   scripts/gen-clients.sh [PATH_TO_CUSTOS_BINARY]   (default: cargo run --bin custos)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [[ $# -ge 1 ]]; then
    "$1" openapi >"$tmp/openapi.json"
else
    (cd "$root" && cargo run --quiet --locked --bin custos -- openapi) >"$tmp/openapi.json"
fi
out="$root/clients/python/custos_client/generated"
rm -rf "$out"
openapi-python-client generate --path "$tmp/openapi.json" --meta none \
    --config "$root/clients/python/generator.yaml" --output-path "$out" >/dev/null
echo "generated $out"
"$root/clients/typescript/node_modules/.bin/openapi-typescript" "$tmp/openapi.json" \
    -o "$root/clients/typescript/src/schema.d.ts" >/dev/null 2>&1
echo "generated $root/clients/typescript/src/schema.d.ts"
