#!/usr/bin/env bash
# The test command: installs what the tests need (idempotent), then runs every test of every
# crate with every feature, then (when called without arguments, as CI does) the supply-chain
# checks and 60 s of fuzzing per decoder. CI (.ci/run) calls exactly this.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- some_test    # arguments go to `cargo test`; the extra checks are skipped
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/custos-target}"
scripts/test-deps.sh
cargo test --workspace --all-features --locked "$@"
if [ $# -eq 0 ]; then
  scripts/supply-chain.sh
  scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-60}"
fi
