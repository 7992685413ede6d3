"""MiniLM against mpnet, fine-tuned with the same recipe and the same caps (issue 15, item 5).

    .venv/bin/python benchmarks/encoder_comparison.py [--encoder all-MiniLM-L6-v2 --encoder all-mpnet-base-v2]
        [--max-steps 300] [--max-per-code 6] [--out benchmarks/encoder_comparison.md]

Each arm trains the default recipe (proxy-softmax fine-tuning, then the heads and their
calibration) from its base encoder, with the fine-tuning capped at ``--max-steps`` steps and the
corpus at ``--max-per-code`` rows per (code, split, kind): on 2 CPU cores the uncapped mpnet
retrain would take hours. The caps are the same for both arms, so the comparison is fair but it is
a capped run, not the full recipe: state it as such. Each arm is scored on reported-titles and on
the hand-coded real-postings (title + body, as the nightly reads them), and its training time and
its encoder's speed on real posting bodies (torch, this machine) are reported. Run ``make mpnet``
first for the mpnet arm.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BENCHMARKS = ("reported-titles", "real-postings")
COLUMNS = ("acc@1", "acc@5", "lenient_acc@1", "major_acc@1")


def body_speed(classifier, taxonomy, n: int = 128) -> float:
    """Postings per second through the classifier's encoder (title + body), torch on this machine."""
    from jobclass.evaluation.sets import load_benchmark

    frame = load_benchmark("real-postings", taxonomy).frame.head(n)
    started = time.perf_counter()
    classifier.queries(frame["title"].tolist(), frame["body"].tolist())
    return n / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    from jobclass.model.base_encoders import BASE_ENCODERS, MINILM, MPNET
    from jobclass.onet.taxonomy import load_taxonomy
    from jobclass.training.config import TrainConfig
    from jobclass.training.train import train_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", dest="encoders", choices=list(BASE_ENCODERS))
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--max-per-code", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="also write the table (and the command) to this Markdown file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    taxonomy = load_taxonomy()
    rows = []
    for name in args.encoders or [MINILM, MPNET]:
        config = TrainConfig(
            base_encoder=name, max_steps=args.max_steps, max_per_code=args.max_per_code, device=args.device,
            benchmarks=BENCHMARKS, name=f"cmp-{name}", show_progress=False,
        )
        started = time.perf_counter()
        classifier = train_model(config, taxonomy)
        seconds = time.perf_counter() - started
        metrics = classifier.metadata["metrics"]
        review = classifier.metadata.get("review", {})
        rows.append({
            "encoder": name,
            "train_s": round(seconds, 1),
            "timings_s": classifier.metadata["timings_s"],
            "postings_per_s": round(body_speed(classifier, taxonomy), 1),
            "metrics": {b: {k: metrics[b].get(k) for k in COLUMNS} for b in BENCHMARKS},
            "cv_review": review,
        })
        print(json.dumps(rows[-1], default=float), flush=True)

    command = "    .venv/bin/python benchmarks/encoder_comparison.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = "| encoder | train (min) | postings/s (torch) | " + " | ".join(f"{b} {k}" for b in BENCHMARKS for k in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(BENCHMARKS) * len(COLUMNS))]
    for row in rows:
        cells = [f"{row['metrics'][b][k]:.3f}" if row["metrics"][b][k] is not None else "–" for b in BENCHMARKS for k in COLUMNS]
        lines.append(f"| {row['encoder']} | {row['train_s'] / 60:.1f} | {row['postings_per_s']:.1f} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        caps = f"Capped CPU run: fine-tuning {args.max_steps} steps, corpus {args.max_per_code} rows per (code, split, kind)."
        args.out.write_text(f"{command.strip()}\n\n{caps}\n\n{table}\n\n```json\n{json.dumps(rows, indent=2, default=float)}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
