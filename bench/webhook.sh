#!/usr/bin/env bash
# Webhook benchmark (a figure, not a test):
#  1. async accepts per second: POST /jobs/run/p/... with a small JSON body,
#     64 connections, 20 s, wrk from a second process: with no worker (the
#     queue alone) and with a worker draining it (what a user sees); then the
#     server is killed with SIGKILL and the committed rows are counted: fewer
#     rows than accepted jobs fails the benchmark (an accepted job was lost);
#  sync latency per runtime, cold and warm, is bench/runtimes.sh.
# Needs wrk (apt-get install wrk). Usage: bench/webhook.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"
. bench/lib.sh

post_script '{"x": 1, "name": "bench"}'

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
start "$WORK/a" ORVANTA_WORKER_TAGS=bench-none ORVANTA_WORKERS=1
create u/admin/noop bash ':'
wrk -t2 -c64 -d"${SECS}s" -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run/p/u/admin/noop" | tee "$WORK/wrk1.txt"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
check_rows "$WORK/wrk1.txt" "$(sqlite_rows "$WORK/a/orvanta.db")"

echo
echo "== 1a. the same with a worker draining the queue (SQLite; the figure a user sees)"
start "$WORK/d" ORVANTA_WORKER_TAGS=default ORVANTA_WORKERS=1
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
    start "$WORK/p-$tags" ORVANTA_WORKER_TAGS="$tags" ORVANTA_WORKERS=1 DATABASE_URL="$PG/$DB"
    create u/admin/noop bash ':'
    echo "-- worker tags: $tags"
    wrk -t2 -c64 -d"${SECS}s" -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run/p/u/admin/noop" | tee "$WORK/wrk1b.txt" | grep -E "requests in|Requests/sec|Non-2xx"
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true
    check_rows "$WORK/wrk1b.txt" "$(psql "$PG/$DB" -qAtc "select count(*) from jobs")"
    psql "$PG/postgres" -qAtc "DROP DATABASE $DB WITH (FORCE)"
  done
fi

echo
echo "Sync latency and requests/s per runtime, cold and warm: bench/runtimes.sh"
