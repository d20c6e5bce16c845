#!/usr/bin/env bash
# A virtualenv with the third-party clients the compatibility tests drive:
# pymesos 0.3.15 (Mesos v1 scheduler/executor driver), marathon 0.13.0 and
# chronos-python 1.2.1. pymesos's dependency http-parser 0.9.0 ships a
# Cython-generated C file that does not build on CPython 3.11, so it is
# regenerated with cython<3 before installing.
set -euo pipefail
venv="${PADDOCK_VENV:-/opt/paddock-venv}"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pymesos, marathon, chronos" 2>/dev/null; then
  exit 0
fi

echo "setup-python: building $venv"
"$py" -m venv "$venv"
pip() { "$venv/bin/pip" --disable-pip-version-check -q "$@"; }
pip install "cython<3" wheel setuptools

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip download --no-deps --no-binary :all: -d "$work" "http-parser==0.9.0"
tar -xzf "$work"/http-parser-0.9.0.tar.gz -C "$work"
(
  cd "$work/http-parser-0.9.0"
  "$venv/bin/cython" http_parser/parser.pyx
  "$venv/bin/pip" --disable-pip-version-check -q install --no-build-isolation .
)
pip install "pymesos==0.3.15" addict "marathon==0.13.0" "chronos-python==1.2.1"
"$venv/bin/python" -c "import pymesos, marathon, chronos" || {
  echo "setup-python: the clients do not import" >&2
  exit 1
}
