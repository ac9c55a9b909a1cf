#!/usr/bin/env bash
# Instructions per signed request, counted by valgrind's callgrind: a figure that, unlike
# throughput on this shared VM, is the same from run to run, so it shows what a change to the
# request path costs or saves.
#
#   scripts/instructions.sh [--sink store|memory] [--requests N] [--binary PATH] [--keep DIR]
#
# Starts `custos serve` (and, through --trace-children, its enclave) under callgrind on a
# temporary data directory, logs an agent in, sends 300 unmeasured `sign` requests (message) at
# concurrency 1, zeroes the counters, sends N more (default 1000), dumps the counters and prints
# instructions per request for the server and for the enclave. Instructions only: time spent
# waiting for fdatasync, the kernel's share of a syscall and scheduling are not in the count.
# Needs valgrind, curl and python3; builds nothing (default binary: the release build that
# scripts/bench.sh makes). --keep copies the callgrind files to DIR (`callgrind_annotate
# DIR/cg.<pid>.2` shows where the measured requests' instructions went).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/custos"
BENCH="$TARGET/release/custos-bench"
SINK=store
N=1000
KEEP=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --sink) SINK="$2"; shift 2 ;;
        --requests) N="$2"; shift 2 ;;
        --binary) BIN="$2"; shift 2 ;;
        --keep) KEEP="$2"; shift 2 ;;
        *) echo "instructions: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$SINK" in store|memory) ;; *) echo "instructions: --sink is store or memory" >&2; exit 2 ;; esac
case "$N" in ''|*[!0-9]*) echo "instructions: --requests is a positive number" >&2; exit 2 ;; esac
for tool in valgrind callgrind_control curl python3; do
    command -v "$tool" >/dev/null || { echo "instructions: $tool is not installed" >&2; exit 2; }
done
[ -x "$BIN" ] && [ -x "$BENCH" ] || { echo "instructions: build first (scripts/bench.sh builds $BIN and $BENCH)" >&2; exit 2; }

WORK="$(mktemp -d)"
cleanup() {
    [ -f "$WORK/pid" ] && kill -TERM -- "-$(cat "$WORK/pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/data"

env CUSTOS_LOG=warn CUSTOS_AUDIT_SINK="$SINK" \
    CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE=1000000000 CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE=1000000000 \
    CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE=1000000000 \
    setsid valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$WORK/cg.%p" \
    "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 2>"$WORK/server.log" >/dev/null &
echo $! >"$WORK/pid"
for _ in $(seq 600); do [ -s "$WORK/data/listen.addr" ] && break; sleep 0.2; done
[ -s "$WORK/data/listen.addr" ] || { echo "instructions: the server did not start:" >&2; tail "$WORK/server.log" >&2; exit 1; }
ADDR="$(cat "$WORK/data/listen.addr")"

curl -sf -X POST "http://$ADDR/v1/auth/otp" -H 'content-type: application/json' \
    -d '{"email":"instructions@example.com"}' >/dev/null
for _ in $(seq 100); do [ -s "$WORK/data/outbox.jsonl" ] && break; sleep 0.2; done
CODE="$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["code"])' "$WORK/data/outbox.jsonl")"
export CUSTOS_BENCH_TOKEN
CUSTOS_BENCH_TOKEN="$(curl -sf -X POST "http://$ADDR/v1/auth/verify" -H 'content-type: application/json' \
    -d "{\"email\":\"instructions@example.com\",\"code\":\"$CODE\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

drive() {
    "$BENCH" drive --url "http://$ADDR" --path /v1/wallets/me/actions/sign \
        --body '{"chain":"message","message":"custos benchmark: sign this message"}' \
        --concurrency 1 --seconds 900 --warmup 0 --max-requests "$1" 2>/dev/null
}
echo "instructions: warming up (300 requests under callgrind)" >&2
drive 300 >/dev/null
# The processes also work while idle (timers, the WAL checkpointer): measured for IDLE seconds
# first, and that rate times the measured run's length is subtracted.
IDLE=5
callgrind_control -z >/dev/null
sleep "$IDLE"
callgrind_control -d >/dev/null
callgrind_control -z >/dev/null
echo "instructions: measuring $N requests" >&2
RESULT="$(drive "$N")"
callgrind_control -d >/dev/null
sleep 1
if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$WORK"/cg.* "$KEEP"/; fi

python3 - "$WORK" "$RESULT" "$SINK" "$IDLE" <<'PY'
import glob, json, re, sys
work, result, sink, idle = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
n, seconds = result["requests"], result["seconds"]
if result["ok"] != n:
    sys.exit(f"instructions: {n - result['ok']} of {n} requests failed")

def totals(suffix):
    out = {}
    for path in glob.glob(f"{work}/cg.*.{suffix}"):
        text = open(path, errors="ignore").read()
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        cmd = re.search(r"^cmd: (.*)$", text, re.M)
        if total and cmd:
            role = "enclave" if " enclave " in cmd.group(1) else "server"
            out[role] = int(total.group(1))
    return out

idle_ir, run_ir = totals(1), totals(2)  # dump 1: the idle interval; dump 2: the requests
print(f"audit sink {sink}, {n} sign requests at concurrency 1 in {seconds:.1f} s under callgrind")
for role in sorted(run_ir):
    background = idle_ir.get(role, 0) / idle * seconds
    per_request = (run_ir[role] - background) / n
    print(f"  {role:<8} {per_request:>10.0f} instructions per request"
          f"  (idle work subtracted: {background / n:.0f} per request)")
PY
