#!/usr/bin/env bash
# Run every benchmark once and print its numbers (minutes: they encode thousands of texts).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for bench in benchmarks/accuracy.py benchmarks/real_postings.py benchmarks/commercial_titles.py benchmarks/near_titles.py benchmarks/stream.py benchmarks/usajobs_review.py benchmarks/memory.py benchmarks/throughput.py benchmarks/cost_levers.py; do
  [ -f "$bench" ] || continue
  echo "==> $bench"
  .venv/bin/python "$bench"
done
echo "==> benchmarks/review_pages.py" && .venv/bin/python benchmarks/review_pages.py  # the review pages at 1M predictions (issue 29)
