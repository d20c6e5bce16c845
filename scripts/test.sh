#!/usr/bin/env bash
# The whole test suite: set-up, build, tests (unit, property, integration
# with real processes and cgroups, compatibility with real clients), then
# formatting and lints. Ends with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PADDOCK_PYTHON="${PADDOCK_VENV:-/opt/paddock-venv}/bin/python"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo build --workspace --all-targets
# Integration tests start real processes and cgroups; two at a time on two cores.
status=0
cargo test --workspace -- --test-threads=2 2>&1 | tee "$log" || status=$?
cargo fmt --all -- --check || status=1
cargo clippy --workspace --all-targets -- -D warnings || status=1

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
