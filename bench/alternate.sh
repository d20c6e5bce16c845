#!/bin/bash
# Alternates oci_bulk runs of several paddock binaries, ROUNDS times each,
# starting each run only once the 1-minute load is under 1.5 (plus 20 s):
# tearing down 1,000 containers keeps the machine busy for minutes.
#
#   bench/alternate.sh ROUNDS BIN... [-- extra oci_bulk args, e.g. --runc 1]
#
# Needs the release oci_bulk in $CARGO_TARGET_DIR (default target/).
set -u
rounds=$1; shift
bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
bulk="${CARGO_TARGET_DIR:-target}/release/oci_bulk"
for r in $(seq 1 "$rounds"); do
  for b in "${bins[@]}"; do
    while :; do
      l=$(cut -d' ' -f1 /proc/loadavg)
      awk "BEGIN{exit !($l < 1.5)}" && break
      sleep 5
    done
    sleep 20
    echo "=== $(date -u +%T) $(basename "$b") round $r"
    PADDOCK_BIN=$b timeout 400 "$bulk" --tasks 1000 --timeout 90 "$@" 2>&1 |
      grep -iE "TASK_RUNNING|CPU|inactive|runc|steal|error|panicked"
  done
done
