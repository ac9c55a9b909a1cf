#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml): licences, RustSec advisories from the
# vendored snapshot (supply-chain/advisory-db.tar.gz, no network), yanked crates, wildcard
# requirements, unknown sources; duplicate versions are listed as warnings.
#
#   scripts/supply-chain.sh
#
# Installs cargo-deny from crates.io into ~/.cache/custos-tools when it is missing.
# To refresh the snapshot: replace supply-chain/advisory-db.tar.gz with a `git archive` of
# https://github.com/rustsec/advisory-db (crates, rust, LICENSE.txt, README.md under
# advisory-db/) and write its commit and date to supply-chain/advisory-db.version.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
tools="${TOOLS_DIR:-$HOME/.cache/custos-tools}"
export PATH="$tools/bin:$PATH"
if ! command -v cargo-deny >/dev/null 2>&1; then
  echo "supply-chain: installing cargo-deny into $tools" >&2
  cargo install --quiet --locked --root "$tools" cargo-deny
fi

# cargo-deny reads the metadata of every platform's dependencies (wasm, Android, Windows crates
# included), which a Linux build never downloads: fetch them all from the registry first, so
# the checks below run offline on a fresh machine too.
cargo fetch --locked --quiet

# cargo-deny keeps each advisory database in <db-path>/<name>-<hash of its URL>; it is a git
# repository there, so the snapshot is unpacked and committed once per snapshot version.
version="$(cut -d' ' -f1 supply-chain/advisory-db.version)"
db_root="$HOME/.cache/custos-advisory-db"
stamp="$db_root/.snapshot"
if [ "$(cat "$stamp" 2>/dev/null)" != "$version" ]; then
  rm -rf "$db_root"
  mkdir -p "$db_root"
  # Let cargo-deny name the directory it expects, then fill it with the snapshot.
  cargo deny --offline --log-level error check advisories >/dev/null 2>&1 || true
  dir="$(find "$db_root" -mindepth 1 -maxdepth 1 -type d -name 'advisory-db*' | head -1)"
  [ -n "$dir" ] || dir="$db_root/advisory-db-3157b0e258782691"
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf supply-chain/advisory-db.tar.gz -C "$dir" --strip-components=1
  (cd "$dir" && git init -q && git add -A && \
    git -c user.name=custos -c user.email=custos@localhost commit -qm "snapshot $version")
  echo "$version" >"$stamp"
fi
cargo deny --offline --locked check
