#!/usr/bin/env bash
# Builds paddock and runs `paddock dev`: a master on :5050 and an agent on
# :5051, on 127.0.0.1. Extra arguments go to `paddock dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
PADDOCK_SKIP_PYTHON=1 PADDOCK_SKIP_CARGO_DEB=1 bash scripts/setup.sh
cargo build --release -p paddock
exec "${CARGO_TARGET_DIR:-target}/release/paddock" dev "$@"
