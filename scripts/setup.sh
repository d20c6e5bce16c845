#!/usr/bin/env bash
# Installs what building and testing Paddock needs on a fresh Debian-based
# machine with a Rust toolchain: Debian packages (scripts/apt-packages.txt)
# and the Python clients used by the compatibility tests. Idempotent: fast
# when everything is already there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
while IFS= read -r pkg; do
  pkg="${pkg%%#*}"
  pkg="${pkg//[[:space:]]/}"
  [ -z "$pkg" ] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done < "$here/apt-packages.txt"

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${PADDOCK_SKIP_PYTHON:-0}" != "1" ]; then
  bash "$here/setup-python.sh"
fi
