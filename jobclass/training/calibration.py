"""Calibration, a step of its own around a classifier whose heads and hybrid are fitted (in the
manner of scikit-learn's ``CalibratedClassifierCV``): the posting calibration and the review threshold.

- :func:`fit_posting_calibration`: the title/body mixing weight and the temperature of postings
  with a body, on postings composed from validation titles and tasks;
- the review threshold, the top-1 score above which a prediction is accepted without a human:
  fitted so that accepted predictions are right at a target precision. On real postings
  (:func:`fit_review_on_real_postings`) it is fitted on the hand-coded real-postings benchmark; the
  figures we report for it come from k-fold cross-validation (fit on k-1 folds, count the held-out
  fold), never from the rows it was fitted on. :func:`validation_review_threshold` fits it on
  validation titles instead.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from jobclass.evaluation.benchmark import Benchmark
from jobclass.evaluation.scoring import benchmark_labels, classifier_scores, lenient_hits
from jobclass.evaluation.sets import load_benchmark
from jobclass.model.classifier import TARGET_PRECISION, JobClassifier
from jobclass.model.thresholds import lowest_threshold_at_precision
from jobclass.onet.taxonomy import Taxonomy

log = logging.getLogger(__name__)

TARGET_AUTO_ACCEPT_PRECISION = TARGET_PRECISION


def choose_review_threshold(top: np.ndarray, correct: np.ndarray, precision: float = TARGET_AUTO_ACCEPT_PRECISION) -> float:
    """The lowest top-1 score whose accepted share (every row scoring at least as high) still
    reaches ``precision``; 1.0 (accept nothing) when no share does."""
    threshold = lowest_threshold_at_precision(top, correct, precision)
    return 1.0 if threshold is None else threshold


def validation_review_threshold(probs: np.ndarray, y: np.ndarray, precision: float = TARGET_AUTO_ACCEPT_PRECISION) -> float:
    """:func:`choose_review_threshold` on scores ``probs`` of rows labelled ``y`` (validation titles)."""
    return choose_review_threshold(probs.max(axis=1), probs.argmax(axis=1) == y, precision)


@dataclass(frozen=True)
class ReviewEstimate:
    """Cross-validated auto-accept figures of a review threshold fitted on labelled rows."""

    folds: int
    precision_target: float
    accept_share: float  # held-out rows accepted, pooled over the folds
    precision: float  # of the accepted held-out rows, the share whose top-1 is the code
    lenient_precision: float  # ... whose top-1 is the code or an also-defensible code
    thresholds: tuple[float, ...]  # fitted on each fold's training rows
    threshold_all: float  # fitted on every row: the one a model would ship

    def as_dict(self) -> dict:
        return asdict(self)


def cross_validated_review(
    top: np.ndarray,
    correct: np.ndarray,
    lenient: np.ndarray | None = None,
    precision: float = TARGET_AUTO_ACCEPT_PRECISION,
    folds: int = 5,
    seed: int = 0,
) -> ReviewEstimate:
    """Fit the threshold on k-1 folds, accept the held-out fold's rows at or above it, pool."""
    lenient = correct if lenient is None else lenient
    fold_of = np.random.default_rng(seed).permutation(len(top)) % folds
    accepted = np.zeros(len(top), dtype=bool)
    thresholds = []
    for k in range(folds):
        held = fold_of == k
        threshold = choose_review_threshold(top[~held], correct[~held], precision)
        thresholds.append(threshold)
        accepted[held] = top[held] >= threshold
    n = max(int(accepted.sum()), 1)
    return ReviewEstimate(
        folds=folds,
        precision_target=precision,
        accept_share=float(accepted.mean()),
        precision=float(correct[accepted].sum() / n) if accepted.any() else float("nan"),
        lenient_precision=float(lenient[accepted].sum() / n) if accepted.any() else float("nan"),
        thresholds=tuple(thresholds),
        threshold_all=choose_review_threshold(top, correct, precision),
    )


def fit_review_on_real_postings(classifier: JobClassifier, taxonomy: Taxonomy) -> dict[str, Any]:
    """The review threshold at which accepted real postings are right at the target precision, as
    a record for the model's metadata: its ``threshold_all`` is the threshold to set.

    The threshold is fitted on every row of the hand-coded real-postings benchmark, read as the
    nightly reads a posting (with ``classifier``'s settings); the precision and accepted share it is
    reported with come from 5-fold cross-validation (:func:`cross_validated_review`).
    """
    bench = load_benchmark("real-postings", taxonomy)
    probs = classifier_scores(classifier, bench)
    correct = probs.argmax(axis=1) == benchmark_labels(bench, classifier.codes)
    estimate = cross_validated_review(probs.max(axis=1), correct, lenient_hits(probs, bench, classifier.codes))
    log.info(
        "Review threshold %.3f from real-postings (%s): 5-fold CV accepts %.1f%% at precision %.3f (lenient %.3f)",
        estimate.threshold_all, bench.content_hash[:19], 100 * estimate.accept_share, estimate.precision,
        estimate.lenient_precision,
    )
    return {"benchmark": bench.name, "benchmark_hash": bench.content_hash, **estimate.as_dict()}


BODY_WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def fit_posting_calibration(classifier: JobClassifier, postings: Benchmark) -> tuple[float, float]:
    """The title/body mixing weight and the posting temperature with the best validation likelihood.

    For each weight of :data:`BODY_WEIGHT_GRID` the logit scale of rows with a body is fitted by
    maximum likelihood; the pair with the highest log-likelihood wins.
    """
    T, C = classifier.encode_parts(postings.frame["title"].tolist(), postings.frame["body"].tolist())
    y = benchmark_labels(postings, classifier.codes)
    rows = np.arange(len(y))

    def fitted_scale(weight: float) -> tuple[float, float]:
        logits = classifier.hybrid.logits(classifier.features(classifier.combine(T, C, weight)))

        def nll(scale: float) -> float:
            return float(-log_softmax(scale * logits, axis=1)[rows, y].mean())

        best = minimize_scalar(nll, bounds=(0.1, 10.0), method="bounded")
        return float(best.x), -float(best.fun)

    fits = {w: fitted_scale(w) for w in BODY_WEIGHT_GRID}
    log.info(
        "Posting calibration on %d validation postings (weight: scale, log-likelihood): %s",
        len(y), {w: (round(sc, 2), round(ll, 3)) for w, (sc, ll) in fits.items()},
    )
    weight = max(fits, key=lambda w: fits[w][1])
    return weight, round(fits[weight][0], 4)
