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
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  echo "== $t ($secs s)"
  mkdir -p "corpus/$t"
  cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(==|#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY|.*panicked|.*deadly signal)" || true
  if [ -d "artifacts/$t" ] && [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "FOUND: $t left crash inputs in fuzz/artifacts/$t"; exit 1
  fi
done
echo "no target found anything"
