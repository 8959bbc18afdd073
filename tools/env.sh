#!/usr/bin/env bash
# Create (once) the project's virtual environment with the pinned packages, and activate it.
# Sourced by lab.sh and test.sh. Reuses an active conda env or venv that already has scalelab.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if python3 -c 'import scalelab, kubernetes, jupyterlab' 2>/dev/null && [ -n "${CONDA_PREFIX:-}${VIRTUAL_ENV:-}" ]; then
  echo "using the active environment: ${CONDA_PREFIX:-${VIRTUAL_ENV}}"
else
  PY="${PYTHON:-python3.11}"
  command -v "$PY" >/dev/null || PY=python3
  "$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11+ is needed"' 
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    echo "creating $ROOT/.venv with $("$PY" --version)"
    "$PY" -m venv "$ROOT/.venv"
  fi
  # shellcheck disable=SC1091
  source "$ROOT/.venv/bin/activate"
  stamp="$ROOT/.venv/.installed-$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "installing the pinned packages (pyproject.toml) into .venv"
    python -m pip install --quiet --disable-pip-version-check -e "$ROOT[test]"
    touch "$stamp"
  fi
fi
# shellcheck source=tools/docker-host.sh
source "$ROOT/tools/docker-host.sh"
