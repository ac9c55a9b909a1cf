#!/usr/bin/env bash
# Is the release build reproducible? Builds `custos` twice from two clones of HEAD at different
# paths into two fresh target directories, with the source, target and cargo-home paths remapped
# (--remap-path-prefix), and compares the binaries' SHA-256.
#
#   scripts/reproducible-build.sh [--features pkcs11,evm]
#
# Takes two full release builds (about 15 minutes each on 2 cores). Exit 0 when the hashes
# agree; otherwise 1, with the first differing section (objdump) to start from.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
features="pkcs11,evm"
while [ $# -gt 0 ]; do
  case "$1" in
    --features) features="$2"; shift 2 ;;
    *) echo "reproducible-build: unknown argument $1" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d /tmp/custos-repro.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
build() { # name
  local src="$work/$1/src" target="$work/$1/target"
  git clone -q "$ROOT" "$src"
  (cd "$src" && \
    CARGO_TARGET_DIR="$target" \
    RUSTFLAGS="--remap-path-prefix=$src=/custos --remap-path-prefix=$target=/target --remap-path-prefix=$cargo_home=/cargo" \
    SOURCE_DATE_EPOCH="$(git -C "$src" log -1 --format=%ct)" \
    cargo build --release --locked --quiet -p custos-cli --bin custos --features "$features")
  sha256sum "$target/release/custos" | cut -d' ' -f1
}
a="$(build first)"
b="$(build second)"
echo "first:  $a"
echo "second: $b"
if [ "$a" = "$b" ]; then
  echo "reproducible: the two builds are identical"
else
  cmp "$work/first/target/release/custos" "$work/second/target/release/custos" | head -1 || true
  echo "NOT reproducible" >&2
  exit 1
fi
