#!/usr/bin/env bash
# Installs what building and testing Paddock needs on a fresh Debian-based
# machine (root, Rust toolchain present): the Debian packages listed in
# scripts/apt-packages.txt, then the Python clients of the compatibility tests
# (scripts/setup-python.sh; skipped with PADDOCK_SKIP_PYTHON=1).
# Idempotent, and fast when everything is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

wanted=()
while IFS= read -r line || [ -n "$line" ]; do
  line="${line%%#*}"
  line="${line//[[:space:]]/}"
  [ -n "$line" ] && wanted+=("$line")
done <"$here/apt-packages.txt"

# One dpkg-query for all of them ("name ii" when installed).
declare -A ok=()
if [ "${#wanted[@]}" -gt 0 ]; then
  while read -r name status; do
    if [ "$status" = ii ]; then ok["$name"]=1; fi
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null || true)
fi
missing=()
for pkg in "${wanted[@]}"; do
  [ -n "${ok[$pkg]:-}" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}) and not root: install them with apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -q -o DPkg::Lock::Timeout=300)
  updated=0
  # Refresh the package lists only when they are missing or older than a day.
  if ! find /var/lib/apt/lists -maxdepth 1 -name '*Release' -mmin -1440 2>/dev/null | grep -q .; then
    echo "setup: apt-get update"
    "${apt[@]}" update -qq || { echo "setup: apt-get update failed" >&2; exit 1; }
    updated=1
  fi
  echo "setup: installing ${missing[*]}"
  if ! "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # Lists that are recent but still stale (a package moved on): refresh once.
    if [ "$updated" = 0 ] && "${apt[@]}" update -qq &&
      "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      :
    else
      echo "setup: apt-get install ${missing[*]} failed" >&2
      exit 1
    fi
  fi
fi

# cargo-deb builds the .deb the packaging test installs; building it inside
# the test would take most of the test's time limit.
if [ "${PADDOCK_SKIP_CARGO_DEB:-0}" != "1" ] && ! cargo deb --version >/dev/null 2>&1; then
  echo "setup: cargo install cargo-deb 3.8.0"
  cargo install cargo-deb --locked --version 3.8.0 -q || { echo "setup: cargo install cargo-deb failed" >&2; exit 1; }
fi

if [ "${PADDOCK_SKIP_PYTHON:-0}" != "1" ]; then
  bash "$here/setup-python.sh"
fi
