#!/usr/bin/env bash
# Is the release build reproducible? Builds `custos` twice from scratch — each time a fresh
# clone of HEAD and a fresh target directory at the same fixed paths (as a build container
# would), with those paths and the cargo home remapped (--remap-path-prefix) and
# SOURCE_DATE_EPOCH from the commit — and compares the two binaries' SHA-256. The paths are the
# same because two clones at different paths, even remapped, gave different binaries (their
# layouts differ from the ELF entry point on; which input carries the path is not traced yet).
#
#   scripts/reproducible-build.sh [--features pkcs11,evm] [--keep DIR]
#
# Takes two full release builds (about 15 minutes each on 2 cores). Exit 0 when the hashes
# agree; otherwise 1, naming the first differing ELF section; --keep copies both binaries to DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
features="pkcs11,evm"
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --features) features="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "reproducible-build: unknown argument $1" >&2; exit 2 ;;
  esac
done
work="/tmp/custos-reproducible-build"
out="$(mktemp -d /tmp/custos-repro-out.XXXXXX)"
trap 'rm -rf "$work" "$out"' EXIT
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
build() { # name
  rm -rf "$work"
  local src="$work/src" target="$work/target"
  git clone -q "$ROOT" "$src"
  (cd "$src" && \
    CARGO_TARGET_DIR="$target" \
    RUSTFLAGS="--remap-path-prefix=$src=/custos --remap-path-prefix=$target=/target --remap-path-prefix=$cargo_home=/cargo" \
    SOURCE_DATE_EPOCH="$(git -C "$src" log -1 --format=%ct)" \
    cargo build --release --locked --quiet -p custos-cli --bin custos --features "$features")
  cp "$target/release/custos" "$out/$1"
  sha256sum "$out/$1" | cut -d' ' -f1
}
a="$(build first)"
b="$(build second)"
echo "first:  $a"
echo "second: $b"
if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$out/first" "$out/second" "$keep/"; fi
if [ "$a" = "$b" ]; then
  echo "reproducible: the two builds are identical"
else
  for s in $(objdump -h "$out/first" | awk '$1 ~ /^[0-9]+$/ {print $2}'); do
    if ! cmp -s <(objcopy -O binary --only-section="$s" "$out/first" /dev/stdout 2>/dev/null) \
                <(objcopy -O binary --only-section="$s" "$out/second" /dev/stdout 2>/dev/null); then
      echo "first differing section: $s"
      break
    fi
  done
  echo "NOT reproducible" >&2
  exit 1
fi
