#!/usr/bin/env bash
# Runtime benchmark (a figure, not a test), SQLite, `orvanta up` with its
# defaults (one job slot per core, jobs sandboxed):
#  1. for Python, Deno, Bun and Bash: sync run_wait_result of `return {"y": x + 1}`,
#     p50/p99 and requests/s at concurrency 1, requests/s (and p50) at
#     concurrency 16, in a process per job ("cold", the script saved with
#     warm: false) and in warm processes ("warm"; Bash has none), next to the
#     spawn floor of each interpreter (an empty program, no sandbox) measured
#     in the same run;
#  2. the resident memory of `orvanta up`: idle, then with 10 warm Python
#     processes (the server alone, and with its warm processes).
# Needs wrk (apt-get install wrk). Usage: bench/runtimes.sh [seconds per case, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
. bench/lib.sh

call() { # $1: path
  curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"x": 1}' \
    "$URL/api/w/demo/jobs/run_wait_result/p/$1"
}

post_script '{"x": 1}'

# wrk's latency line for a percentile, in ms.
ms() { # $1: wrk output, $2: percentile label (50%, 99%)
  awk -v p="$2" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.2f", v }' "$1"
}
rps() { awk '/Requests\/sec/ {printf "%.0f", $2}' "$1"; }
errors() { awk '/Non-2xx/ {print $NF}' "$1"; }

start "$WORK/data"
HEALTH=$(curl -sf -H "Authorization: Bearer $TOKEN" "$URL/api/health")
exe() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["runtimes"][sys.argv[2]]["path"])' "$HEALTH" "$1"; }

# The spawn floor: the mean of 30 runs of an empty program, no sandbox, in ms.
floor() { # $1: language
  local cmd
  case "$1" in
    python3) cmd=("$(exe python3)" -c pass) ;;
    deno) cmd=("$(exe deno)" eval 0) ;;
    bun) cmd=("$(exe bun)" -e 0) ;;
    bash) cmd=("$(exe bash)" -c :) ;;
  esac
  python3 - "${cmd[@]}" <<'PYEOF'
import subprocess, sys, time
n = 30
subprocess.run(sys.argv[1:], check=True)
t = time.perf_counter()
for _ in range(n):
    subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(f"{(time.perf_counter() - t) / n * 1000:.2f}")
PYEOF
}

PY=$'def main(x: int):\n    return {"y": x + 1}\n'
TS=$'export function main(x: number) {\n  return { y: x + 1 };\n}\n'
SH=$'x="$1"\necho "{\\"y\\": $((x + 1))}"\n'

echo "sandbox: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sandbox"])' "$HEALTH")"
echo "${SECS}s per case; job slots: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["workers"])' "$HEALTH")"
echo
printf '%-8s %-5s %10s %10s %9s %10s %10s %9s %12s\n' language mode "c1 p50 ms" "c1 p99 ms" "c1 req/s" "c16 p50 ms" "c16 req/s" "floor ms" "p50 - floor"
for lang in ${LANGS:-python3 deno bun bash}; do
  case "$lang" in python3) code="$PY" ;; bash) code="$SH" ;; *) code="$TS" ;; esac
  modes="cold warm"; [ "$lang" = bash ] && modes="cold"
  FLOOR=$(floor "$lang")
  for mode in $modes; do
    path="u/admin/${lang}_${mode}"
    create "$path" "$lang" "$code" "{\"warm\": $([ "$mode" = warm ] && echo true || echo false)}"
    for _ in 1 2 3; do call "$path" >/dev/null; done
    wrk -t1 -c1 -d"${SECS}s" --latency -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run_wait_result/p/$path" > "$WORK/c1.txt"
    wrk -t2 -c16 -d"${SECS}s" --latency -s "$WORK/post.lua" "$URL/api/w/demo/jobs/run_wait_result/p/$path" > "$WORK/c16.txt"
    for f in c1 c16; do
      e=$(errors "$WORK/$f.txt")
      [ -z "$e" ] || { echo "FAIL: $lang $mode $f: $e answers were not 2xx" >&2; cat "$WORK/$f.txt" >&2; exit 1; }
    done
    p50=$(ms "$WORK/c1.txt" 50%)
    printf '%-8s %-5s %10s %10s %9s %10s %10s %9s %12s\n' "$lang" "$mode" "$p50" "$(ms "$WORK/c1.txt" 99%)" \
      "$(rps "$WORK/c1.txt")" "$(ms "$WORK/c16.txt" 50%)" "$(rps "$WORK/c16.txt")" "$FLOOR" \
      "$(python3 -c "print(f'{$p50 - $FLOOR:+.2f}')")"
  done
done
kill "$PID"; wait "$PID" 2>/dev/null || true

echo
echo "== resident memory of orvanta up (SQLite)"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
tree_kib() { # the process and everything below it
  python3 - "$1" <<'PYEOF'
import os, sys
root = int(sys.argv[1])
children = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(pid))
    except (OSError, ValueError, IndexError):
        pass
total, todo = 0, [root]
while todo:
    pid = todo.pop()
    todo.extend(children.get(pid, []))
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    except OSError:
        pass
print(total)
PYEOF
}
start "$WORK/rss"
sleep 3
echo "idle: $(( $(rss_kib "$PID") / 1024 )) MiB"
for i in $(seq 1 10); do
  create "u/admin/warm_$i" python3 "$PY"
  call "u/admin/warm_$i" >/dev/null
done
sleep 1
WARM=$(curl -sf -H "Authorization: Bearer $TOKEN" "$URL/api/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["warm"]["live"])')
echo "with $WARM warm Python processes: the server $(( $(rss_kib "$PID") / 1024 )) MiB, with its warm processes $(( $(tree_kib "$PID") / 1024 )) MiB"
