#!/usr/bin/env bash
# Fuzzes every decoder of untrusted bytes (fuzz/fuzz_targets: Solana wire, EVM transactions,
# calldata and multicalls, EIP-712, the enclave protocol, policy documents and envelopes, Nitro
# attestation documents) with cargo-fuzz / libFuzzer, each for a bounded time.
#
#   scripts/fuzz.sh [--seconds N] [TARGET ...]      # default: every target, 60 s each
#
# Installs cargo-fuzz from crates.io into .tools when it is missing. The toolchain is stable:
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the -Z flags of libFuzzer's coverage instrumentation and
# AddressSanitizer. Each run starts from the committed seeds (fuzz/corpus/<target>) and writes
# what it finds to a scratch copy, so the committed corpus changes only when someone copies new
# inputs in on purpose. A crash stops the script with the reproducer's path (fuzz/artifacts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(solana_wire evm_transaction evm_calldata eip712 enclave_protocol policy_document nitro_attestation)
fi

# Outside the clone, so a fresh clone on the same machine does not build it again.
tools="${TOOLS_DIR:-$HOME/.cache/custos-tools}"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz into $tools" >&2
  cargo install --quiet --locked --root "$tools" cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/custos-fuzz-target}"
scratch="$(mktemp -d /tmp/custos-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build --fuzz-dir fuzz
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  cp -r "fuzz/corpus/$t/." "$scratch/$t/" 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s" >&2
  if ! cargo fuzz run --fuzz-dir fuzz "$t" "$scratch/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      >"$scratch/$t.log" 2>&1; then
    tail -40 "$scratch/$t.log" >&2
    echo "fuzz: $t FAILED (reproducer under fuzz/artifacts/$t)" >&2
    exit 1
  fi
  runs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$scratch/$t.log" | grep -Eo '[0-9]+$' || echo '?')"
  cov="$(grep -Eo 'cov: [0-9]+' "$scratch/$t.log" | tail -1 | grep -Eo '[0-9]+' || echo '?')"
  echo "fuzz: $t ok: $runs runs, coverage $cov edges, corpus $(ls "$scratch/$t" | wc -l) inputs" >&2
done
