#!/usr/bin/env bash
# Two Custos API replicas behind one database, one Redis and one enclave, on this machine:
#   PostgreSQL (a fresh schema in $PG_URL, default postgres://postgres@127.0.0.1:5432/test),
#   Redis ($REDIS_URL, default redis://127.0.0.1:6379; keys under a fresh prefix),
#   one `custos enclave` (both replicas enrol with the same bootstrap owner key),
#   one `custos devnet` (the Solana devnet over JSON-RPC, so both replicas see one chain),
#   and two `custos serve` sharing the JWT key, the OTP pepper and the bootstrap owner key.
# Starts PostgreSQL and Redis with the machine's own commands if they are not running.
#
#   scripts/replicas.sh [--dir DIR] [--binary PATH] [--env FILE]
#
# When everything listens it writes DIR/replicas.env (A_URL, B_URL, A_DIR, B_DIR, STORAGE_URL,
# the CUSTOS_* settings the replicas run with) and DIR/ready, prints the two URLs, and stays in
# the foreground until it gets SIGTERM / SIGINT, then stops everything and drops the schema.
# --env FILE adds KEY=VALUE lines (more CUSTOS_* settings) to both replicas' environment.
# The tests (crates/custos-cli/tests/replicas.rs) run exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=""
binary="${CARGO_TARGET_DIR:-$HOME/.cache/custos-target}/release/custos"
extra_env=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --env) extra_env="$2"; shift 2 ;;
    *) echo "replicas.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "replicas.sh: no custos binary at $binary (cargo build --release -p custos-cli)" >&2; exit 2; }
[ -n "$dir" ] || dir="$(mktemp -d /tmp/custos-replicas.XXXXXX)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pg_url="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379}"
log() { echo "replicas: $*" >&2; }

# ---- PostgreSQL and Redis: running, or started the way this machine starts them ----
if ! psql "$pg_url" -qAtc 'select 1' >/dev/null 2>&1; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
  for _ in $(seq 1 50); do psql "$pg_url" -qAtc 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
fi
psql "$pg_url" -qAtc 'select 1' >/dev/null || { log "PostgreSQL is not reachable at $pg_url"; exit 3; }
redis_hostport="${redis_url#redis://}"; redis_hostport="${redis_hostport%%/*}"
redis_host="${redis_hostport%%:*}"; redis_port="${redis_hostport##*:}"
if ! redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || true
  for _ in $(seq 1 50); do redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null || { log "Redis is not reachable at $redis_url"; exit 3; }

suffix="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
schema="custos_replicas_${suffix}"
prefix="custos:rl:${suffix}:"
psql "$pg_url" -qAtc "CREATE SCHEMA ${schema}" >/dev/null
sep='?'; case "$pg_url" in *\?*) sep='&' ;; esac
storage_url="${pg_url}${sep}options[search_path]=${schema}"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  psql "$pg_url" -qAtc "DROP SCHEMA IF EXISTS ${schema} CASCADE" >/dev/null 2>&1 || true
  redis-cli -h "$redis_host" -p "$redis_port" --scan --pattern "${prefix}*" 2>/dev/null \
    | xargs -r redis-cli -h "$redis_host" -p "$redis_port" del >/dev/null 2>&1 || true
  rm -f "$dir/ready"
}
trap cleanup EXIT INT TERM

wait_file() { # file, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
  log "timed out waiting for $1"; return 1
}

mkdir -p "$dir/a" "$dir/b" "$dir/enclave" "$dir/devnet"
chmod 700 "$dir/a" "$dir/b" "$dir/enclave" "$dir/devnet"

# ---- one chain ----
"$binary" devnet --listen 127.0.0.1:0 --data-dir "$dir/devnet" >"$dir/devnet.url" 2>"$dir/devnet.log" &
pids+=($!)
wait_file "$dir/devnet.url" 30
rpc_url="$(head -1 "$dir/devnet.url")"

# ---- one bootstrap owner key, one enclave that accepts it for enrolment ----
bootstrap_pub="$("$binary" admin key generate --out "$dir/a/owner-bootstrap.key" | grep -Eo '[0-9a-f]{64}' | head -1)"
cp -p "$dir/a/owner-bootstrap.key" "$dir/b/owner-bootstrap.key"
socket="$dir/enclave/enclave.sock"
"$binary" enclave --socket "$socket" --data-dir "$dir/enclave" --enrol-key "$bootstrap_pub" \
  >"$dir/enclave.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || { log "the enclave did not start (see $dir/enclave.log)"; exit 4; }

# ---- the replicas ----
common_env=(
  "CUSTOS_STORAGE_URL=$storage_url"
  "CUSTOS_RATE_LIMIT_BACKEND=redis"
  "CUSTOS_RATE_LIMIT_REDIS_URL=$redis_url"
  "CUSTOS_RATE_LIMIT_REDIS_KEY_PREFIX=$prefix"
  "CUSTOS_SOLANA_BACKEND=rpc"
  "CUSTOS_SOLANA_RPC_URL=$rpc_url"
  "CUSTOS_SERVER_DEV=true"
  "CUSTOS_SERVER_LISTEN=127.0.0.1:0"
  "CUSTOS_CUSTODY_EXTERNAL_ENCLAVE=true"
  "CUSTOS_CUSTODY_ENCLAVE_SOCKET=$socket"
)
if [ -n "$extra_env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) ;; *) common_env+=("$line") ;; esac
  done <"$extra_env"
fi
start_replica() { # name
  env "${common_env[@]}" "$binary" serve --data-dir "$dir/$1" >"$dir/$1.log" 2>&1 &
  pids+=($!)
  wait_file "$dir/$1/listen.addr" 60
}
start_replica a
# The second replica shares the first one's token key and pepper: a token or a login code
# issued by one is good at the other.
cp -p "$dir/a/jwt-signing-key.json" "$dir/a/otp-pepper.key" "$dir/b/"
start_replica b

{
  echo "A_URL=http://$(cat "$dir/a/listen.addr")"
  echo "B_URL=http://$(cat "$dir/b/listen.addr")"
  echo "A_DIR=$dir/a"
  echo "B_DIR=$dir/b"
  echo "STORAGE_URL=$storage_url"
  printf '%s\n' "${common_env[@]}"
} >"$dir/replicas.env"
touch "$dir/ready"
log "replica A: http://$(cat "$dir/a/listen.addr")  replica B: http://$(cat "$dir/b/listen.addr")  (Ctrl-C stops all)"
wait -n "${pids[@]}" || true
log "a process exited; stopping the rest"
