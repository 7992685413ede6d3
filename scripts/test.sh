#!/usr/bin/env bash
# Run the test suite: SQLite always, PostgreSQL whenever 127.0.0.1:5432 answers (required in CI).
# The files run in parallel on pytest-xdist workers, one per core up to 4 (JOBCLASS_TEST_WORKERS=N
# sets another number; 0 runs everything in this one process, as plain pytest does).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PATH="$PWD/.venv/bin:$PATH"
cores=$(nproc 2>/dev/null || echo 2)
workers=${JOBCLASS_TEST_WORKERS:-$((cores < 4 ? cores : 4))}
if [ "$workers" -gt 0 ]; then
  # loadfile: a file's tests stay on one worker, so its module fixtures are built once.
  exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
fi
exec .venv/bin/python -m pytest "$@"
