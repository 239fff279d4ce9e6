#!/usr/bin/env bash
# A short fuzz pass, as CI runs it (a stage of tests/run.sh): every target of
# fuzz/ for FUZZ_SECONDS (default 5) from its committed corpus, on stable
# Rust (`-s none`: no sanitizer, which would need nightly). Fails on any
# crash, leaving the input under fuzz/artifacts/<target>/. New corpus
# entries go to a temporary directory, so the committed corpus stays as it
# is. A long campaign: docs/security.md, "Fuzzing".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-5}
runs=${FUZZ_RUNS:--1}
# CI builds unoptimised (--dev): a cold build takes about 4 minutes instead
# of 11 for the optimised one, and a few seconds per target need no speed.
# FUZZ_BUILD=--release for a long campaign.
build=${FUZZ_BUILD:---dev}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

start=$SECONDS
cargo fuzz build -s none "$build"
echo "fuzz build: $((SECONDS - start))s"

work=$(mktemp -d /tmp/doorman-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

failed=()
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  log="$work/$target.log"
  if cargo fuzz run "$target" -s none "$build" "$work/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 >"$log" 2>&1; then
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    printf '%-8s %10s executions in %ss, no crash\n' "$target" "${executed:-?}" "$seconds"
  else
    failed+=("$target")
    echo "$target: CRASH"
    grep -a -v -E '^#[0-9]+ ' "$log" | tail -n 60
  fi
done
echo "fuzz stage: $((SECONDS - start))s"

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz targets that crashed: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
