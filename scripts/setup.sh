#!/usr/bin/env bash
# Create .venv and install jobclass with its pinned requirements (offline-safe, idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.jobclass-requirements.sha256
want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing requirements (a few minutes on a fresh machine)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -c constraints.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
else
  echo "==> .venv is up to date"
fi
# The editable install leaves its build metadata in the checkout; with the repository root on
# sys.path (pytest, python -m) it is a second copy of the package's metadata, and Airflow would load
# the plugin's entry point twice ("already registered"). The installed .dist-info is the real one.
rm -rf jobclass.egg-info
