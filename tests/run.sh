#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this file): installs the
# Debian packages the tests need, then checks formatting and lints and runs
# every test. The tests start their own Postfix on free loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tests/support/install-deps.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets
