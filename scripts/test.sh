#!/usr/bin/env bash
# Run the test suite: SQLite always, PostgreSQL whenever 127.0.0.1:5432 answers (required in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
