"""What reviewed labels buy on real postings (issue 15): cross-validated on the real-postings benchmark.

    .venv/bin/python benchmarks/review_labels.py --model BUNDLE [--folds 5] [--grouping random|title]
        [--fraction 0.25 --fraction 1.0] [--json FILE]

The weekly retrain learns from the review queue: the labels analysts give to postings
(``posting_labels``; ``jobclass labels import``) join the training corpus as ``labelled`` rows, in
the heads and in the nearest-title index. This measures what that is worth on real postings, with
the hand-coded real-postings postings standing in for a review queue:

- ``baseline``: the heads trained on the O*NET corpus alone, on ``--model``'s encoder (no
  fine-tuning here), scored on all the postings;
- ``labels``: for each of ``--folds`` folds, the same heads trained with the other folds' postings as
  reviewed labels (``--fraction`` of them, drawn at random, for a learning curve), scored on the
  held-out fold; the figures pool the held-out folds, so no posting is scored by a model that saw it.

``--grouping title`` keeps every posting that shares a normalised title or a body with another in one
fold: the gain on postings whose title no reviewer has coded (a lower bound); ``random`` is the
gain a queue gives when titles recur, as federal titles do. Both arms are read as the nightly reads
them (title and body), and share one calibration recipe: the posting calibration on composed
validation postings, the review threshold fitted per fold on the pooled held-out scores of the
other folds (``cross_validated_review``), never on the rows it is applied to. The real-postings
benchmark's own threshold fitting is off (``review_threshold_from="validation"``), since that would
see the held-out fold. Embeddings are torch (the int8 ONNX encoder of the nightly differs by a
point or so); the encoder is not fine-tuned on the labels, which the weekly retrain also does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation_signals import CachedEncoder, default_cache, encoder_dir  # noqa: E402

log = logging.getLogger("review_labels")

SEED = 0


def fold_ids(frame: pd.DataFrame, folds: int, grouping: str, seed: int = SEED) -> np.ndarray:
    """The fold of each row: at random, or with rows that share a normalised title or a body in one fold."""
    from jobclass.model.cleaning import normalize_title

    rng = np.random.default_rng(seed)
    if grouping == "random":
        return rng.permutation(len(frame)) % folds
    if grouping != "title":
        raise ValueError(f"grouping {grouping!r}: choose random or title")
    parent = list(range(len(frame)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for key in (frame["title"].map(normalize_title), frame["body"].str.strip()):
        first: dict[str, int] = {}
        for i, value in enumerate(key):
            if value and value in first:
                parent[find(i)] = find(first[value])
            first.setdefault(value, i)
    groups = np.array([find(i) for i in range(len(frame))])
    # Largest groups first, each to the fold with the fewest rows so far (ties broken at random).
    order = sorted(np.unique(groups), key=lambda g: (-(groups == g).sum(), rng.random()))
    sizes = np.zeros(folds, dtype=int)
    fold_of_group = {}
    for g in order:
        k = int(np.argmin(sizes + rng.random(folds) * 0.1))
        fold_of_group[g] = k
        sizes[k] += (groups == g).sum()
    return np.array([fold_of_group[g] for g in groups])


def as_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Benchmark rows as reviewed labels (what ``read_reviewed_labels`` gives the retrain)."""
    return pd.DataFrame({"title": frame["title"], "body": frame["body"], "onet_code": frame["code"]})


def summarise(probs: np.ndarray, bench: Any, codes: list[str]) -> dict[str, Any]:
    """acc@1/5, lenient acc@1 and the auto-accept share (review threshold 5-fold cross-validated)."""
    from jobclass.evaluation.scoring import benchmark_labels, evaluate_parts, evaluate_probabilities, lenient_hits
    from jobclass.training.calibration import cross_validated_review

    metrics = evaluate_probabilities(probs, bench, codes)
    parts = evaluate_parts(probs, bench, codes, "form")
    correct = probs.argmax(axis=1) == benchmark_labels(bench, codes)
    lenient = lenient_hits(probs, bench, codes)
    out = {
        "acc@1": metrics["acc@1"],
        "acc@5": metrics["acc@5"],
        "mrr@10": metrics.get("mrr@10"),
        "lenient_acc@1": metrics["lenient_acc@1"],
        "titled_acc@1": parts["titled"]["acc@1"],
        "untitled_acc@1": parts["untitled"]["acc@1"],
    }
    for target in (0.90, 0.80):
        estimate = cross_validated_review(probs.max(axis=1), correct, lenient, precision=target)
        out[f"auto_accept@{target:.2f}"] = {"share": estimate.accept_share, "precision": estimate.precision}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model bundle (its encoder/) or sentence-transformers directory")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--grouping", choices=("random", "title"), default="random")
    parser.add_argument(
        "--fraction", type=float, action="append", dest="fractions", help="share of the other folds used (default 1.0)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the arm without labels")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from jobclass.evaluation.benchmark import make_benchmark
    from jobclass.evaluation.scoring import classifier_scores
    from jobclass.evaluation.sets import excluded_titles, load_benchmark
    from jobclass.model.cleaning import normalize_title
    from jobclass.model.encoder import load_encoder
    from jobclass.onet.taxonomy import load_taxonomy
    from jobclass.training.config import TrainConfig
    from jobclass.training.train import train_model

    taxonomy = load_taxonomy()
    bench = load_benchmark("real-postings", taxonomy)
    frame = bench.frame
    model_dir = encoder_dir(args.model)
    encoder = CachedEncoder(load_encoder(model_dir, device="cpu"), default_cache(model_dir))
    config = replace(
        TrainConfig.recipe("default"),
        benchmarks=(),
        review_threshold_from="validation",
        show_progress=False,
        name="review-labels",
    )
    excluded = excluded_titles(taxonomy)
    results: dict[str, Any] = {
        "command": "benchmarks/review_labels.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": str(model_dir),
        "benchmark_hash": bench.content_hash,
        "postings": len(frame),
        "grouping": args.grouping,
        "folds": args.folds,
        "arms": {},
    }
    started = time.perf_counter()
    if not args.no_baseline:
        clf = train_model(config, taxonomy, encoder=encoder)
        encoder.save()
        results["arms"]["baseline"] = summarise(classifier_scores(clf, bench), bench, clf.codes)
        log.info("baseline: %s (%.0fs)", results["arms"]["baseline"], time.perf_counter() - started)
    fold_of = fold_ids(frame, args.folds, args.grouping)
    rng = np.random.default_rng(SEED)
    for fraction in args.fractions or [1.0]:
        probs = None
        used = []
        for k in range(args.folds):
            train_rows = frame[fold_of != k]
            if fraction < 1.0:
                train_rows = train_rows.sample(frac=fraction, random_state=int(rng.integers(1 << 31)))
            labels = as_labels(train_rows)
            used.append(int((~labels["title"].map(normalize_title).isin(excluded)).sum()))
            held = make_benchmark(bench.name, frame[fold_of == k])
            clf = train_model(config, taxonomy, labelled=labels, encoder=encoder)
            encoder.save()
            fold_probs = classifier_scores(clf, held)
            if probs is None:
                probs = np.zeros((len(frame), fold_probs.shape[1]), dtype=np.float32)
            probs[fold_of == k] = fold_probs
            log.info(
                "fraction %.2f fold %d/%d: %d labels, %.0fs so far",
                fraction,
                k + 1,
                args.folds,
                used[-1],
                time.perf_counter() - started,
            )
        arm = summarise(probs, bench, clf.codes)
        arm["labels_per_fold"] = used
        results["arms"][f"labels x{fraction:g}"] = arm
        log.info("labels x%g: %s", fraction, arm)
    results["seconds"] = time.perf_counter() - started
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
