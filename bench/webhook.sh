#!/usr/bin/env bash
# Webhook benchmark (a figure, not a test):
#  1. async accepts per second: POST /jobs/run/p/... with a small JSON body,
#     64 connections, 20 s, wrk from a second process: with no worker (the
#     queue alone) and with a worker draining it (what a user sees); then the
#     server is killed with SIGKILL and the committed rows are counted: fewer
#     rows than accepted jobs fails the benchmark (an accepted job was lost);
#  2. sync run_wait_result latency, p50/p99, of a Python `return x + 1`, at
#     concurrency 1 and 16, next to the `python3 -c pass` spawn floor measured
#     in the same run.
# Needs wrk (apt-get install wrk). Usage: bench/webhook.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p orvanta-server
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/orvanta"
TOKEN="orv_bench_token_0123456789abcdefghij"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

start() { # $1: data dir, $2: worker tags, $3: workers, [$4: DATABASE_URL]; sets URL and PID
  DATABASE_URL="${4:-}" ORVANTA_ADMIN_TOKEN="$TOKEN" ORVANTA_WORKER_TAGS="$2" ORVANTA_WORKERS="$3" RUST_LOG=warn \
    "$BIN" up --port 0 --data-dir "$1" > "$1.out" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    URL=$(sed -n 's/^Orvanta is listening on \(http[^ ]*\).*/\1/p' "$1.out")
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$1.out"; exit 1; }
}

create() { # $1: path, $2: language, $3: content
  python3 -c 'import json,sys; print(json.dumps({"path": sys.argv[1], "language": sys.argv[2], "content": sys.argv[3]}))' "$1" "$2" "$3" |
    curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data @- "$URL/api/w/demo/scripts/create" >/dev/null
}

cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"x": 1, "name": "bench"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

# Checks that every accepted job was committed: $1 = the wrk output, $2 = the row count.
# Requests still in flight when wrk stopped may be committed unseen: at most one per connection.
check_rows() {
  local accepted non2xx
  accepted=$(awk '/requests in/ {print $1}' "$1")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1"); non2xx=${non2xx:-0}
  accepted=$((accepted - non2xx))
  echo "accepted (2xx): $accepted, non-2xx: $non2xx, job rows committed after SIGKILL: $2"
  if [ "$2" -lt "$accepted" ]; then
    echo "FAIL: $((accepted - $2)) accepted job(s) are not in the database" >&2; exit 1
  fi
  if [ "$2" -gt $((accepted + 64)) ]; then
    echo "FAIL: $2 rows for $accepted accepted jobs: more than the 64 requests that can be in flight" >&2; exit 1
  fi
}
sqlite_rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from jobs").fetchone()[0])' "$1"; }

echo "== 1. async accepts (SQLite, ${SECS}s, 64 connections; no worker claims them, so the queue is measured alone)"
start "$WORK/a" "bench-none" 1
create u/admin/noop bash ':'
wrk -t2 -c64 -d"${SECS}s" -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run/p/u/admin/noop" | tee "$WORK/wrk1.txt"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
check_rows "$WORK/wrk1.txt" "$(sqlite_rows "$WORK/a/orvanta.db")"

echo
echo "== 1a. the same with a worker draining the queue (SQLite; the figure a user sees)"
start "$WORK/d" "default" 1
create u/admin/noop bash ':'
wrk -t2 -c64 -d"${SECS}s" -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run/p/u/admin/noop" | tee "$WORK/wrk1a.txt" | grep -E "requests in|Requests/sec|Non-2xx"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
check_rows "$WORK/wrk1a.txt" "$(sqlite_rows "$WORK/d/orvanta.db")"

PG="${ORVANTA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}"
if psql "$PG/postgres" -qAtc "select 1" >/dev/null 2>&1; then
  echo
  echo "== 1b. the same on PostgreSQL, no worker, then with a worker draining"
  for tags in bench-none default; do
    DB="orvanta_bench_$$_${tags/-/_}"
    psql "$PG/postgres" -qAtc "CREATE DATABASE $DB"
    start "$WORK/p-$tags" "$tags" 1 "$PG/$DB"
    create u/admin/noop bash ':'
    echo "-- worker tags: $tags"
    wrk -t2 -c64 -d"${SECS}s" -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run/p/u/admin/noop" | tee "$WORK/wrk1b.txt" | grep -E "requests in|Requests/sec|Non-2xx"
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true
    check_rows "$WORK/wrk1b.txt" "$(psql "$PG/$DB" -qAtc "select count(*) from jobs")"
    psql "$PG/postgres" -qAtc "DROP DATABASE $DB WITH (FORCE)"
  done
fi

echo
echo "== 2. sync latency, Python return x + 1 (SQLite)"
PY=$(python3 -c 'import sys; print(sys.executable)')
floor() { # the mean time of `python3 -c pass`, in ms
  python3 - "$PY" <<'PYEOF'
import subprocess, sys, time
n = 40
t = time.perf_counter()
for _ in range(n):
    subprocess.run([sys.argv[1], "-c", "pass"], check=True)
print(f"{(time.perf_counter() - t) / n * 1000:.2f}")
PYEOF
}
start "$WORK/b" "default" 16
create u/admin/inc python3 $'def main(x: int):\n    return x + 1\n'
# Warm the runtime caches (bytecode of the wrapper and the script) once.
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"x": 1}' \
  "$URL/api/w/demo/jobs/run_wait_result/p/u/admin/inc" >/dev/null
for c in 1 16; do
  BEFORE=$(floor)
  echo "-- concurrency $c"
  wrk -t1 -c"$c" -d"$((SECS / 2))s" --latency -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run_wait_result/p/u/admin/inc" |
    grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx"
  AFTER=$(floor)
  echo "spawn floor (python3 -c pass), before and after: ${BEFORE} ms, ${AFTER} ms"
done
