"""Score a classifier on a frozen benchmark: ranking metrics, calibration and review share."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark
from jobclass.evaluation.metrics import evaluate_scores, expected_calibration_error
from jobclass.model.classifier import JobClassifier


def benchmark_labels(benchmark: Benchmark, codes: list[str]) -> np.ndarray:
    index_of = {c: i for i, c in enumerate(codes)}
    return benchmark.frame["code"].map(index_of).to_numpy(dtype=np.int64)


def classifier_scores(classifier: JobClassifier, benchmark: Benchmark, use_body: bool = True) -> np.ndarray:
    frame = benchmark.frame
    bodies = frame["body"].tolist() if use_body else [""] * len(frame)
    chunks = []
    for lo in range(0, len(frame), 1024):
        Q, has_body = classifier.queries(frame["title"].iloc[lo : lo + 1024].tolist(), bodies[lo : lo + 1024])
        chunks.append(classifier.proba(Q, has_body))
    return np.concatenate(chunks)


def review_metrics(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of rows auto-accepted (top-1 score >= threshold) and the top-1 precision there."""
    top = probs.max(axis=1)
    accepted = top >= threshold
    correct = probs.argmax(axis=1) == y
    return {
        "auto_accept_share": float(accepted.mean()),
        "auto_accept_precision": float(correct[accepted].mean()) if accepted.any() else float("nan"),
        "ece": expected_calibration_error(top, correct),
    }


def lenient_hits(probs: np.ndarray, benchmark: Benchmark, codes: list[str]) -> np.ndarray:
    """Whether each row's top-1 code is its code or one of its equally defensible ``also_ok`` codes."""
    top1 = np.asarray(codes)[probs.argmax(axis=1)]
    frame = benchmark.frame
    also = frame["also_ok"] if "also_ok" in frame.columns else pd.Series([""] * len(frame))
    return np.array(
        [t == code or t in {c.strip() for c in str(extra).split(";") if c.strip()} for t, code, extra in zip(top1, frame["code"], also)]
    )


def evaluate_probabilities(
    probs: np.ndarray, benchmark: Benchmark, codes: list[str], review_threshold: float | None = None
) -> dict[str, float | str]:
    y = benchmark_labels(benchmark, codes)
    metrics: dict[str, float | str] = evaluate_scores(probs, y, codes)
    if "also_ok" in benchmark.frame.columns:
        metrics["lenient_acc@1"] = float(lenient_hits(probs, benchmark, codes).mean())
    if review_threshold is not None:
        metrics.update(review_metrics(probs, y, review_threshold))
    metrics["benchmark"] = benchmark.name
    metrics["benchmark_hash"] = benchmark.content_hash
    return metrics


def evaluate_parts(
    probs: np.ndarray, benchmark: Benchmark, codes: list[str], column: str, review_threshold: float | None = None
) -> dict[str, dict[str, float | str]]:
    """The metrics of each part of a benchmark (for example real-postings by ``form``)."""
    parts = {}
    for value in sorted(benchmark.frame[column].unique()):
        mask = (benchmark.frame[column] == value).to_numpy()
        part = make_benchmark(f"{benchmark.name}[{value}]", benchmark.frame[mask])
        parts[str(value)] = evaluate_probabilities(probs[mask], part, codes, review_threshold)
    return parts


def evaluate_classifier(classifier: JobClassifier, benchmark: Benchmark, use_body: bool = True) -> dict[str, float | str]:
    probs = classifier_scores(classifier, benchmark, use_body)
    return evaluate_probabilities(probs, benchmark, classifier.codes, classifier.settings.review_threshold)

