#!/usr/bin/env bash
# Runs every cargo-fuzz target of Orvanta for a while (default 60 s each).
#   ./fuzz/run.sh            # all targets, 60 s each
#   ./fuzz/run.sh 600 form   # one target, 10 minutes
# Needs cargo-fuzz (installed here from crates.io when missing). On a stable
# toolchain, RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="logs/$t.log"
  echo "== $t ($secs s), log in fuzz/$log"
  if ! cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "FOUND or FAILED: $t (crash inputs, if any, in fuzz/artifacts/$t)"
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" "$log" | tr '\n' ' '
  echo
done
echo "no target found anything"
