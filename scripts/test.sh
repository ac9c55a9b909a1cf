#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every test of every
# crate with every feature. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/custos-target}"
scripts/test-deps.sh
cargo test --workspace --all-features --locked "$@"
