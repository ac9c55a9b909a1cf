#!/usr/bin/env bash
# Runs every benchmark scenario of issue 6 and writes bench-results/<unix-time>.{json,txt,svg}.
#
#   scripts/bench.sh                 # full run, about 7 minutes after the build
#   scripts/bench.sh --rounds 1      # any extra arguments go to `custos-bench suite`
#
# Builds `custos` and `custos-bench` in release mode (two separate cargo invocations, so each
# keeps its own feature resolution and neither rebuilds the other), installs OpenBao's `bao`
# through scripts/test-deps.sh when missing, then lets `custos-bench suite` start every server
# it needs on temporary data directories (loopback only) and stop them afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"

bash "$ROOT/scripts/test-deps.sh" openbao softhsm anvil
BAO_ARGS=()
if command -v bao >/dev/null 2>&1; then
    BAO_ARGS=(--bao "$(command -v bao)")
else
    echo "bench: no bao binary; the OpenBao comparison will be reported as not measurable" >&2
fi

echo "bench: building release binaries (this takes minutes the first time)" >&2
cargo build --release --quiet -p custos-cli --bin custos --features pkcs11,evm
cargo build --release --quiet -p custos-bench --bin custos-bench

mkdir -p "$ROOT/bench-results"
"$TARGET/release/custos-bench" suite \
    --custos "$TARGET/release/custos" \
    "${BAO_ARGS[@]}" \
    --anvil "$ROOT/.tools/node_modules/.bin/anvil" \
    --out "$ROOT/bench-results" \
    "$@"

# Replicas on PostgreSQL + Redis (two ÷ one replica, PostgreSQL ÷ SQLite), same binaries.
if command -v psql >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    CARGO_TARGET_DIR="$TARGET" "$ROOT/scripts/bench-replicas.sh" \
        --out "$ROOT/bench-results/$(date +%s)-replicas.txt"
else
    echo "bench: no PostgreSQL / Redis client here; the replica figures are not measured" >&2
fi
