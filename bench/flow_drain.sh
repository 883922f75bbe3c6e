#!/usr/bin/env bash
# How fast one worker slot starts queued flow runs: N GitHub-signed events
# (bench/inbound.sh's 5 kB push body) are accepted by a server whose worker
# claims nothing (a tag no job has), which then stops; a server with one
# worker slot starts on the same data and the time until every one-step flow
# ended is measured. SQLite. Needs wrk (apt-get install wrk).
# Usage: bench/flow_drain.sh [events, default 4000]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-4000}"
SECS=10
. bench/lib.sh
# The body, the signature and the setup of bench/inbound.sh, not its runs.
eval "$(sed -n '/^BODY=\$(python3/,/^SIG=/p' bench/inbound.sh)"
eval "$(sed -n '/^lua()/,/^}/p;/^setup()/,/^}/p' bench/inbound.sh)"
count() { # flows not ended yet in the data dir $1
  python3 - "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}/orvanta.db?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*) FROM jobs WHERE kind = 'flow' AND status IN ('queued', 'running')").fetchone()[0])
PYEOF
}

mkdir -p "$WORK/d"
BENCH_ENV="ORVANTA_WORKER_TAGS=none" setup "$WORK/d"
lua "wrk.headers[\"X-GitHub-Event\"] = \"push\"
wrk.headers[\"X-Hub-Signature-256\"] = \"$SIG\"
local n = 0
request = function() n = n + 1; return wrk.format() end
response = function() if n >= $N then wrk.thread:stop() end end"
wrk -t1 -c16 -d120s -s "$WORK/post.lua" "$URL/webhook/$HOOK" > /dev/null
kill "$PID"; wait "$PID" 2>/dev/null || true
QUEUED=$(count "$WORK/d")
echo "$QUEUED one-step flow runs queued"
T0=$(date +%s.%N)
start "$WORK/d" ORVANTA_WORKERS=1
while [ "$(count "$WORK/d")" != 0 ]; do sleep 0.05; done
T1=$(date +%s.%N)
python3 -c "import sys; q, t = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]); print(f'drained in {t:.2f} s (the server start included): {q / t:.0f} runs/s')" \
  "$QUEUED" "$T0" "$T1"
