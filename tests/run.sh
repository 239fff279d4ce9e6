#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file): installs the
# Debian packages the tests need, then checks formatting and lints and runs
# every test. The tests start their own Postfix, clamd, spamd, rspamd and
# dnsmasq on free loopback ports.
#
# Every stage runs even when an earlier one failed, and every test binary runs
# even when another failed (--no-fail-fast): the summary at the end lists all
# that failed, and the exit status is non-zero if anything did.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/support/install-deps.sh

failed=()
log=$(mktemp /tmp/doorman-test-log.XXXXXX)
trap 'rm -f "$log"' EXIT

stage() {
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
# The test output is kept to name the failing tests at the end.
stage "cargo test" bash -c 'set -o pipefail; cargo test --locked --all-targets --no-fail-fast 2>&1 | tee "$1"' _ "$log"
# A few seconds per fuzz target from its committed corpus (fuzz/run.sh).
stage "cargo fuzz" bash fuzz/run.sh

if [ ${#failed[@]} -eq 0 ]; then
  echo "== all passed"
  exit 0
fi
echo
echo "== FAILED: ${failed[*]}"
if grep -qE '^test .* \.\.\. FAILED$' "$log"; then
  echo "-- failing tests:"
  grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/   \1/'
fi
if grep -q '^error: [0-9]* targets\? failed' "$log"; then
  echo "-- failing test binaries:"
  sed -n '/^error: [0-9]* targets\? failed/,$p' "$log" | grep -E '^\s+`' || true
fi
exit 1
