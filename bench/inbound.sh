#!/usr/bin/env bash
# Inbound webhooks: GitHub-signed `push` events (a realistic 5 kB body) POSTed
# to /webhook/{id} with wrk, 64 connections; each is verified (HMAC-SHA256),
# recorded in the history and starts a one-step flow, committed before its
# 200. In the same run, the baseline: the plain async script webhook
# (jobs/run/p/...) with the same body, and, like for like, the async flow
# webhook (jobs/run/f/...) starting the same flow. SQLite. Two pairs of cases: with a
# worker slot draining (each case says how many of its runs the worker
# started meanwhile: what the system sustains is the smaller figure), then
# the accept path alone, the worker claiming nothing.
# Needs wrk (apt-get install wrk). Usage: bench/inbound.sh [seconds per case, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
. bench/lib.sh

# A push event of about 5 kB, as GitHub sends it (no delivery id header:
# every request acts; with one, retries would be recorded as duplicates).
BODY=$(python3 - <<'PYEOF'
import json
commit = lambda i: {"id": f"{i:040x}", "tree_id": f"{i+1:040x}", "distinct": True,
    "message": f"Fix the flaky test number {i} in the queue module", "timestamp": "2026-11-30T10:00:00Z",
    "url": f"https://github.com/orvanta/orvanta/commit/{i:040x}",
    "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
    "committer": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
    "added": [], "removed": [], "modified": ["crates/orvanta-store/src/queue.rs"]}
body = {"ref": "refs/heads/main", "before": "0" * 40, "after": "f" * 40,
    "repository": {"id": 1, "name": "orvanta", "full_name": "orvanta/orvanta", "private": False,
        "owner": {"login": "orvanta", "id": 2}, "html_url": "https://github.com/orvanta/orvanta",
        "description": "Webhook-first runner for scripts and flows", "default_branch": "main"},
    "pusher": {"name": "ada", "email": "ada@example.com"}, "sender": {"login": "ada", "id": 3},
    "commits": [commit(i) for i in range(7)], "head_commit": commit(7)}
print(json.dumps(body))
PYEOF
)
SECRET="bench secret"
SIG="sha256=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
echo "body: ${#BODY} bytes"

lua() { # $1: extra header lines
  cat > "$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = [==[$BODY]==]
wrk.headers["Content-Type"] = "application/json"
$1
LUA
}
result() { # $1: wrk output
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$1")
  p50=$(awk '$1 == "50%" {print $2}' "$1"); p99=$(awk '$1 == "99%" {print $2}' "$1")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1")
  [ -z "$non2xx" ] || { echo "FAIL: $non2xx answers were not 2xx" >&2; cat "$1" >&2; exit 1; }
  echo "$rps req/s, p50 $p50, p99 $p99"
}

# Jobs of the run (top-level: scripts, or flow runs) that left the queue by
# now, per second of the run: what the worker kept up with while the
# requests came (the setup's own request counts one).
started() { # $1: data dir
  python3 - "$1" "$SECS" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}/orvanta.db?mode=ro", uri=True)
n = db.execute("SELECT COUNT(*) FROM jobs WHERE status <> 'queued' AND parent_job IS NULL").fetchone()[0]
print(f"{n - 1} started during the run ({(n - 1) / float(sys.argv[2]):.0f}/s)")
PYEOF
}

# Each case runs on a server of its own (the same settings), so that the jobs
# one case queued are not drained while the next is measured.
setup() { # $1: data dir
  start "$1" ORVANTA_WORKERS=1 ${BENCH_ENV:-}
  curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$URL/api/w/demo/flows/create" \
    -d '{"path": "u/admin/on_push", "value": {"modules": [{"id": "a", "value": {"type": "identity"}}]}}' >/dev/null
  create u/admin/on_push_script bash ':'
  HOOK=$(curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    "$URL/api/w/demo/inbound_webhooks/create" \
    -d "{\"name\": \"gh\", \"source_platform\": \"github\", \"secret\": \"$SECRET\", \"flows_to_start\": [{\"path\": \"u/admin/on_push\"}]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  # One signed request first: it must be verified and start its flow.
  curl -sf -X POST -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $SIG" \
    --data-binary "$BODY" "$URL/webhook/$HOOK" | grep -q '"jobs":\["' || { echo "FAIL: the signed event started nothing" >&2; exit 1; }
}

# One case on the server `setup` just started on the data dir $1: wrk POSTs
# the body to $4 with the extra header lines $3; prints the figures under the
# title $2, stops the server and leaves the figures in CASE.
measure() {
  local dir="$1"
  echo "== $2"
  lua "$3"
  wrk -t2 -c64 -d"${SECS}s" --latency -s "$WORK/post.lua" "$4" > "$dir.txt"
  CASE=$(result "$dir.txt"); echo "$CASE$(started_if "$dir")"
  kill "$PID"; wait "$PID" 2>/dev/null || true
}

# One set of cases (baseline, flow webhook, inbound), ending in their ratios.
# $1: what the worker does; $2: data dir prefix. With the worker claiming
# nothing, only the accept path is measured.
pair() {
  local dir="$WORK/$2" each="64 connections, ${SECS}s, $1"
  local bearer="wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
  setup "$dir-base"
  measure "$dir-base" "baseline: async script webhook, same body, $each" "$bearer" "$URL/api/w/demo/jobs/run/p/u/admin/on_push_script"
  BASE=$CASE

  # Like for like: the async flow webhook starting the same one-step flow
  # (what the inbound layer adds is the difference to the next case).
  setup "$dir-flow"
  measure "$dir-flow" "async flow webhook: the same one-step flow, same body, $each" "$bearer" "$URL/api/w/demo/jobs/run/f/u/admin/on_push"
  FLOW=$CASE

  setup "$dir-hook"
  measure "$dir-hook" "GitHub-signed events to /webhook/{id}: verified, recorded, one flow each, $each" \
    "wrk.headers[\"X-GitHub-Event\"] = \"push\"
wrk.headers[\"X-Hub-Signature-256\"] = \"$SIG\"" "$URL/webhook/$HOOK"
  HOOKED=$CASE
  python3 -c "import sys; b, f, h = map(float, sys.argv[1:]); print(f'ratio baseline / inbound: {b / h:.2f}x; flow webhook / inbound: {f / h:.2f}x')" \
    "${BASE%% *}" "${FLOW%% *}" "${HOOKED%% *}"
}
# What the worker started, when it claims (the accept-only pair's claims nothing).
started_if() { [ "${ORVANTA_WORKER_TAGS_SET:-}" ] || echo "; $(started "$1")"; }

# The system as it runs: a worker slot starts the runs while events arrive
# (what it sustains is the smaller of the accepts and the starts).
pair "a worker slot draining" draining
# The accept path alone: the worker claims nothing (a tag no job has).
BENCH_ENV="${BENCH_ENV:-} ORVANTA_WORKER_TAGS=none" ORVANTA_WORKER_TAGS_SET=1 pair "no worker draining" accept
