#!/usr/bin/env bash
# Replica figures (issue "Scale-out and hardening"), all measured in one run on this machine:
#   - two replicas on PostgreSQL ÷ one replica on PostgreSQL, `sign` (message) throughput at
#     c=32 in all (16 per replica when there are two), with CPU per request of every process;
#   - PostgreSQL-backed ÷ SQLite-backed `sign` throughput at c=32.
# Both replicas run all the time (scripts/replicas.sh: one PostgreSQL schema, one Redis, one
# enclave); "one replica" loads only A. The SQLite server is a plain `custos serve`. The three
# sides alternate, --rounds times, and the medians are reported. On one machine the second
# replica competes for the same two cores, the enclave and PostgreSQL: the ratio is a figure of
# contention, not of scale-out.
#
#   scripts/bench-replicas.sh [--rounds N] [--seconds S] [--concurrency C] [--out FILE]
#
# Needs release builds of `custos` and `custos-bench` (scripts/bench.sh builds them; so does
# this script when they are missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cd "$ROOT"
rounds=3
seconds=4
conc=32
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --concurrency) conc="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "bench-replicas: unknown argument $1" >&2; exit 2 ;;
  esac
done
custos="$TARGET/release/custos"
bench="$TARGET/release/custos-bench"
if [ ! -x "$custos" ] || [ ! -x "$bench" ]; then
  cargo build --release --quiet -p custos-cli --bin custos --features pkcs11,evm
  cargo build --release --quiet -p custos-bench --bin custos-bench
fi
for v in $(env | grep -o '^CUSTOS_[A-Z_]*'); do unset "$v"; done

work="$(mktemp -d /tmp/custos-bench-replicas.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

limits=(
  "CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE=1000000000"
  "CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE=1000000000"
  "CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE=1000000000"
)
printf '%s\n' "${limits[@]}" >"$work/limits.env"
scripts/replicas.sh --dir "$work/set" --binary "$custos" --env "$work/limits.env" 2>"$work/replicas.log" &
pids+=($!)
for _ in $(seq 1 1200); do [ -e "$work/set/ready" ] && break; sleep 0.1; done
[ -e "$work/set/ready" ] || { cat "$work/replicas.log" >&2; exit 3; }
a_url="$(grep '^A_URL=' "$work/set/replicas.env" | cut -d= -f2-)"
b_url="$(grep '^B_URL=' "$work/set/replicas.env" | cut -d= -f2-)"

mkdir -m 700 "$work/sqlite"
env "${limits[@]}" CUSTOS_SERVER_LISTEN=127.0.0.1:0 "$custos" serve --data-dir "$work/sqlite" \
  >"$work/sqlite.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/sqlite/listen.addr" ] && break; sleep 0.1; done
s_url="http://$(cat "$work/sqlite/listen.addr")"

login() { # url outbox-dir email → token
  curl -sf -X POST "$1/v1/auth/otp" -H 'content-type: application/json' \
    -d "{\"email\":\"$3\"}" >/dev/null
  local code=""
  for _ in $(seq 1 100); do
    code="$(python3 -c 'import json,sys
c=[json.loads(l)["code"] for l in open(sys.argv[1]) if json.loads(l)["to"]==sys.argv[2]]
print(c[-1] if c else "")' "$2/outbox.jsonl" "$3" 2>/dev/null || true)"
    [ -n "$code" ] && break
    sleep 0.05
  done
  curl -sf -X POST "$1/v1/auth/verify" -H 'content-type: application/json' \
    -d "{\"email\":\"$3\",\"code\":\"$code\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
tok_a="$(login "$a_url" "$work/set/a" bench-a@example.com)"
tok_b="$(login "$b_url" "$work/set/b" bench-b@example.com)"
tok_s="$(login "$s_url" "$work/sqlite" bench-s@example.com)"

pid_of() { pgrep -f "$1" | head -1; }
pid_a="$(pid_of "serve --data-dir $work/set/a")"
pid_b="$(pid_of "serve --data-dir $work/set/b")"
pid_enc="$(pid_of "enclave --socket $work/set/enclave")"
pid_s="$(pid_of "serve --data-dir $work/sqlite")"
pid_s_enc="$(pgrep -P "$pid_s" | head -1)"
pg_pids="$(pgrep -u postgres postgres | paste -sd, -)"

body='{"chain":"message","message":"custos benchmark: sign this message"}'
drive() { # url token concurrency cpu-pids → one JSON line
  "$bench" drive --url "$1" --path /v1/wallets/me/actions/sign --body "$body" --token "$2" \
    --concurrency "$3" --seconds "$seconds" --warmup 0.5 --cpu-of "$4" 2>/dev/null | tail -1
}
half=$((conc / 2))
: >"$work/results.jsonl"
for r in $(seq 1 "$rounds"); do
  echo "bench-replicas: round $r of $rounds" >&2
  one="$(drive "$a_url" "$tok_a" "$conc" "$pid_a,$pid_b,$pid_enc,$pg_pids")"
  drive "$a_url" "$tok_a" "$half" "$pid_a,$pid_enc,$pg_pids" >"$work/two-a.json" &
  da=$!
  drive "$b_url" "$tok_b" "$half" "$pid_b" >"$work/two-b.json" &
  db=$!
  wait "$da" "$db"
  sqlite="$(drive "$s_url" "$tok_s" "$conc" "$pid_s,$pid_s_enc")"
  python3 - "$r" "$one" "$(cat "$work/two-a.json")" "$(cat "$work/two-b.json")" "$sqlite" \
    "$pid_a" "$pid_b" "$pid_enc" "$pg_pids" "$pid_s" "$pid_s_enc" >>"$work/results.jsonl" <<'PY'
import json, sys
r, one, ta, tb, sq = sys.argv[1], *map(json.loads, sys.argv[2:6])
pa, pb, pe, pg, ps, pse = sys.argv[6:12]
pg = pg.split(",")
def cpu(m, pids):
    c = m.get("cpu_us_per_request", {})
    return sum(c.get(p, 0.0) for p in pids)
two = ta["goodput"] + tb["goodput"]
# CPU per request in the two-replica slice: A's drive measured A, the enclave and PostgreSQL over
# its own requests; B's measured B over its own. Scale each to all requests served.
share_a = ta["goodput"] / two if two else 0
two_cpu = {
    "replicas": cpu(ta, [pa]) * share_a + cpu(tb, [pb]) * (1 - share_a),
    "enclave": cpu(ta, [pe]) * share_a,
    "postgres": cpu(ta, pg) * share_a,
}
print(json.dumps({
    "round": int(r),
    "one_replica": {"goodput": one["goodput"],
                    "cpu_us": {"replica": cpu(one, [pa]), "enclave": cpu(one, [pe]), "postgres": cpu(one, pg)}},
    "two_replicas": {"goodput": two, "a": ta["goodput"], "b": tb["goodput"], "cpu_us": two_cpu},
    "sqlite": {"goodput": sq["goodput"], "cpu_us": {"server": cpu(sq, [ps]), "enclave": cpu(sq, [pse])}},
}))
PY
done

python3 - "$work/results.jsonl" "$conc" "$rounds" <<'PY' | tee "${out:-/dev/null}"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
conc, rounds = sys.argv[2], sys.argv[3]
med = lambda xs: statistics.median(xs)
one = [r["one_replica"]["goodput"] for r in rows]
two = [r["two_replicas"]["goodput"] for r in rows]
sq = [r["sqlite"]["goodput"] for r in rows]
ratio_two = [t / o for t, o in zip(two, one)]
ratio_pg = [o / s for o, s in zip(one, sq)]
def cpu_med(side, key):
    return med([r[side]["cpu_us"][key] for r in rows])
print(f"replicas: sign (message) at c={conc} in all, {rounds} rounds, medians (min–max)")
print(f"  one replica on PostgreSQL     {med(one):8.0f} req/s ({min(one):.0f}–{max(one):.0f})  CPU µs/req: replica {cpu_med('one_replica','replica'):.0f}, enclave {cpu_med('one_replica','enclave'):.0f}, postgres {cpu_med('one_replica','postgres'):.0f}")
print(f"  two replicas on PostgreSQL    {med(two):8.0f} req/s ({min(two):.0f}–{max(two):.0f})  CPU µs/req: replicas {cpu_med('two_replicas','replicas'):.0f}, enclave {cpu_med('two_replicas','enclave'):.0f}, postgres {cpu_med('two_replicas','postgres'):.0f}")
print(f"  one server on SQLite          {med(sq):8.0f} req/s ({min(sq):.0f}–{max(sq):.0f})  CPU µs/req: server {cpu_med('sqlite','server'):.0f}, enclave {cpu_med('sqlite','enclave'):.0f}")
print(f"  two ÷ one replica (PostgreSQL): {med(ratio_two):.2f} ({min(ratio_two):.2f}–{max(ratio_two):.2f})")
print(f"  PostgreSQL ÷ SQLite:            {med(ratio_pg):.2f} ({min(ratio_pg):.2f}–{max(ratio_pg):.2f})")
PY
