#!/usr/bin/env bash
# The whole test suite: set-up, build, tests (unit, property, integration
# with real processes and cgroups, compatibility with real clients), then
# formatting and lints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PADDOCK_PYTHON="${PADDOCK_VENV:-/opt/paddock-venv}/bin/python"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --workspace --all-targets
# Integration tests start real processes and cgroups; two at a time on two cores.
cargo test --workspace -- --test-threads=2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
