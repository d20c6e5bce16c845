#!/usr/bin/env bash
# The whole test suite: set-up, build, formatting and lints, then the tests
# (unit, property, integration with real processes and cgroups, compatibility
# with real third-party clients). Runs every step even after a failure, exits
# non-zero if any failed, and ends with one "N passed, N failed" line.
#
# Tests find the Python clients through PADDOCK_PYTHON (the venv that
# scripts/setup-python.sh builds at PADDOCK_VENV, default /opt/paddock-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/start-services.sh

venv="${PADDOCK_VENV:-/opt/paddock-venv}"
export PADDOCK_VENV="$venv"
export PADDOCK_PYTHON="${PADDOCK_PYTHON:-$venv/bin/python}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=()

# Integration tests run target/debug/paddock: build every target first.
cargo build --workspace --all-targets || failed+=(build)
cargo fmt --all -- --check || failed+=(fmt)
cargo clippy --workspace --all-targets -- -D warnings || failed+=(clippy)

# Tests last, so that the runner's summary ends the output (with the total below). Two at a time
# on two cores; nextest's limits and retries are in .config/nextest.toml.
if cargo nextest --version >/dev/null 2>&1; then
  runner=nextest
  cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$log" || failed+=(tests)
else
  runner=cargo-test
  cargo test --workspace --no-fail-fast -- --test-threads=2 2>&1 | tee "$log" || failed+=(tests)
fi

if [ "$runner" = nextest ]; then
  # "Summary [ 12.345s] 40 tests run: 39 passed, 1 failed, 0 skipped"
  counts="$(awk '/^ *Summary \[/ { for (i = 2; i <= NF; i++) {
      w = $i; sub(/[,;]$/, "", w)
      if (w == "passed") p += $(i-1)
      if (w == "failed" || (w == "out" && $(i-1) == "timed")) f += (w == "out" ? $(i-2) : $(i-1)) } }
    END { printf "%d %d", p, f }' "$log")"
else
  # "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
  counts="$(awk '/^test result:/ { for (i = 2; i <= NF; i++) {
      w = $i; sub(/[,;]$/, "", w)
      if (w == "passed") p += $(i-1)
      if (w == "failed") f += $(i-1) } }
    END { printf "%d %d", p, f }' "$log")"
fi
read -r passed failed_tests <<<"$counts"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "test.sh: failed: ${failed[*]}" >&2
fi
echo "$passed passed, $failed_tests failed"
[ "${#failed[@]}" -eq 0 ]
