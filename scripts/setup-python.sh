#!/usr/bin/env bash
# A virtualenv with the third-party clients the compatibility tests drive:
# pymesos 0.3.15 (Mesos v1 scheduler/executor driver), marathon 0.13.0 and
# chronos-python 1.2.1. The tests find its interpreter in PADDOCK_PYTHON
# (scripts/test.sh exports it).
#
# pymesos's dependency http-parser 0.9.0 ships a Cython-generated C file that
# includes longintrepr.h, which CPython 3.11 no longer has, so it does not
# build as published: its parser.pyx is regenerated with cython<3 first.
#
#   PADDOCK_VENV   where the venv goes (default /opt/paddock-venv)
#   PADDOCK_BASE_PYTHON  interpreter to build it from (default python3)
#
# Idempotent: exits at once when the venv already imports the right versions.
set -Eeuo pipefail
venv="${PADDOCK_VENV:-/opt/paddock-venv}"
base="${PADDOCK_BASE_PYTHON:-python3}"

check='
import addict, chronos, marathon, pymesos
from importlib.metadata import version
want = {"pymesos": "0.3.15", "marathon": "0.13.0", "chronos-python": "1.2.1"}
bad = {k: version(k) for k, v in want.items() if version(k) != v}
assert not bad, bad
'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  exit 0
fi

step="starting"
trap 'echo "setup-python: failed while $step (see above); venv: $venv" >&2' ERR
fail() {
  trap - ERR
  echo "setup-python: $*" >&2
  exit 1
}

step="checking $base"
command -v "$base" >/dev/null || fail "no $base on PATH (set PADDOCK_BASE_PYTHON)"
"$base" -c 'import venv, ensurepip' 2>/dev/null ||
  fail "$base has no venv/ensurepip module (apt-get install python3-venv)"
include="$("$base" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
[ -f "$include/Python.h" ] ||
  fail "no Python.h in $include: http-parser compiles C (apt-get install python3-dev)"
command -v cc >/dev/null || command -v gcc >/dev/null ||
  fail "no C compiler (apt-get install gcc)"

echo "setup-python: building $venv from $("$base" --version 2>&1)"
step="creating the venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' 2>/dev/null; then
  : # a venv that works but misses packages: complete it
else
  "$base" -m venv --clear "$venv"
fi
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }

step="installing cython<3"
pip install "cython<3" wheel setuptools

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step="downloading the http-parser 0.9.0 sdist"
pip download --no-deps --no-binary :all: --no-build-isolation -d "$work" "http-parser==0.9.0"
sdist="$(find "$work" -maxdepth 1 -name 'http-parser-0.9.0.tar.gz' -print -quit)"
[ -n "$sdist" ] || fail "pip download gave no http-parser-0.9.0.tar.gz in $work"
tar -xzf "$sdist" -C "$work"

step="regenerating http_parser/parser.c with cython<3"
src="$work/http-parser-0.9.0"
"$venv/bin/cython" -2 "$src/http_parser/parser.pyx" 2>"$work/cython.log" || {
  cat "$work/cython.log" >&2
  fail "cython could not regenerate $src/http_parser/parser.c"
}
step="installing http-parser 0.9.0"
pip install --no-build-isolation "$src"

step="installing pymesos, addict, marathon and chronos-python"
pip install "pymesos==0.3.15" addict "marathon==0.13.0" "chronos-python==1.2.1"

step="checking the imports"
"$venv/bin/python" -c "$check" || fail "the clients do not import from $venv/bin/python"
echo "setup-python: ready: PADDOCK_PYTHON=$venv/bin/python"
