#!/usr/bin/env bash
# Regenerates the Python client's typed API (clients/python/custos_client/generated) from the
# OpenAPI document the server serves (`custos openapi`), with the pinned generator that
# scripts/test-deps.sh installs. crates/custos-cli/tests/clients.rs fails when the committed
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
