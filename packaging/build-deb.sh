#!/usr/bin/env bash
# Builds the paddock .deb with cargo-deb into OUTDIR and prints its path.
#
#   packaging/build-deb.sh OUTDIR [--release-version] [--version V]
#                                 [--profile release|dev] [--no-build] [--fast]
#
# The version is the crate's, with a build stamp so that every build upgrades
# the one before it (`vagrant provision`, apt-get install ./paddock_*.deb):
# 0.1.0+git20261201123456.abc1234-1. --release-version gives plain 0.1.0-1;
# --version sets it outright. The release profile is the default; --profile
# dev packages the debug binary (quick, for tests). --no-build packages the
# binary already built under $CARGO_TARGET_DIR (or target/).
#
# Installs cargo-deb (a pinned version, from crates.io) when it is missing.
set -euo pipefail

cargo_deb_version=3.8.0
usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 1 ] || usage
out="$1"
shift
profile=release
version=""
release_version=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
  --profile)
    [ $# -ge 2 ] || usage
    profile="$2"
    shift 2
    ;;
  --version)
    [ $# -ge 2 ] || usage
    version="$2"
    shift 2
    ;;
  --release-version)
    release_version=1
    shift
    ;;
  --no-build | --fast)
    extra+=("$1")
    shift
    ;;
  *) usage ;;
  esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb $cargo_deb_version" >&2
  # Its own target dir: a shared CARGO_TARGET_DIR would be locked meanwhile.
  env -u CARGO_TARGET_DIR cargo install cargo-deb --locked --version "$cargo_deb_version" >&2
fi

if [ -z "$version" ]; then
  crate_version="$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys
print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "paddock"))')"
  if [ "$release_version" = 1 ]; then
    version="$crate_version-1"
  else
    stamp="$(date -u +%Y%m%d%H%M%S)"
    sha="$(git rev-parse --short=7 HEAD 2>/dev/null || echo nogit)"
    version="$crate_version+git$stamp.$sha-1"
  fi
fi

mkdir -p "$out"
# cargo-deb prints the path of the .deb it wrote.
# --strip: the release profile keeps debug info (for profiling and
# backtraces in the tree); the package ships the binary without it.
deb="$(cargo deb -p paddock --profile "$profile" --deb-version "$version" \
  --strip --output "$out" "${extra[@]}" | tail -n 1)"
[ -f "$deb" ] || {
  echo "build-deb: cargo deb did not report a .deb (got '$deb')" >&2
  exit 1
}
echo "$deb"
