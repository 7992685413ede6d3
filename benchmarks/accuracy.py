"""Accuracy of the champion (or --model) and the three baselines, measured in one run.

    .venv/bin/python benchmarks/accuracy.py [--model data/models/<version>]

Prints every metric on reported-titles, composed-postings (title+body and title only) and ad-titles, the
per-major-group table, and writes them to benchmarks/accuracy.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jobclass.cli import main

if __name__ == "__main__":
    out = Path(__file__).with_name("accuracy.json")
    sys.exit(
        main(
            [
                "evaluate",
                "--benchmark", "reported-titles",
                "--benchmark", "composed-postings",
                "--benchmark", "ad-titles",
                "--baselines",
                "--by-major-group",
                "--reliability",
                "--json", str(out),
                *sys.argv[1:],
            ]
        )
    )
