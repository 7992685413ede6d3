"""The memory's score: the probability that a remembered code is right, fitted, never a constant.

Features of a remembered code for one posting: how many reviews chose it, how many chose another
code, whether the model agrees (the code is the model's own top 1, or in its top k), and whether the
reviews were of the posting's own title or of other titles with its head (a *near* title,
:func:`jobclass.memory.keys.near_key`). A logistic regression maps them to a probability, fitted
leave-one-out on the reviewed postings themselves: each reviewed posting is scored by the memory of
the *other* reviewed postings with its key (or, where there are none, with its title's head), and
the target is whether that memory's code is the reviewer's. Until there are enough such rows
(:data:`MIN_ROWS`, both outcomes seen) the scorer is not fitted: its score is the smoothed share of
agreeing reviews, and nothing from memory is accepted without review.

The threshold at which a remembered code is accepted without review is fitted with it, the way the
model's review threshold is: the lowest score at which the leave-one-out rows scoring at or above it
are right at ``target_precision`` (0.85 by default, the exact agreement of two human coders), never
below the target itself minus :data:`THRESHOLD_SLACK`. The rows are cross-fitted (each scored by a
regression fitted without its fold), so the threshold is not fitted on its own scores.

A code remembered from near titles only is accepted without review once the scorer was fitted on at
least :data:`MIN_NEAR_ROWS` such rows (until then the regression has not seen how often a title's
head speaks for it, and would score it as an exact title), and only at or above a threshold of its
own (``near_threshold``): fitted the same way on the near rows alone, by the lower bound of a
one-sided 90% Wilson interval (they are few, and the lowest threshold a small sample lets through
is the luckiest one). Pooled with the exact titles, the near rows borrowed the exact titles'
precision: on the stream simulation (benchmarks/RESULTS.md, issue 27) the memory accepted codes
from near titles at 0.47 to 0.67 strict precision where the pooled threshold promised 0.85.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jobclass.memory.entries import NOT_CODABLE, MemoryEntry, TitleMemory
from jobclass.memory.model_threshold import LOWER_BOUND_Z
from jobclass.model.thresholds import lowest_threshold_at_precision

MIN_ROWS = 30
MIN_PER_CLASS = 3
MIN_NEAR_ROWS = 10
FOLDS = 5
#: The fitted threshold never goes lower than the target precision less this.
THRESHOLD_SLACK = 0.15
FEATURES = ["log_agree", "log_other", "model_top1", "model_topk", "near"]


def features(entry: MemoryEntry, code: str, model_codes: Sequence[str]) -> list[float]:
    """The features of ``code`` (one of the entry's) for a posting whose model ranked ``model_codes``."""
    agree = int(entry.counts.get(code, 0))
    rank = list(model_codes).index(code) + 1 if code in model_codes else 0
    return [float(np.log1p(agree)), float(np.log1p(entry.n - agree)), float(rank == 1), float(rank >= 1), float(entry.near)]


@dataclass
class MemoryScorer:
    """P(remembered code is right | features); :meth:`fit` it, then :meth:`score`."""

    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    n_rows: int = 0
    n_right: int = 0
    n_near: int = 0  # training rows remembered from near titles
    target_precision: float = 0.85
    threshold: float = 1.0  # accept at or above this score (fitted); 1.0: never
    near_threshold: float = 1.0  # a code remembered from near titles only: at or above this (fitted); 1.0: never

    @property
    def fitted(self) -> bool:
        return bool(self.coef)

    def fit(self, X: np.ndarray, y: np.ndarray) -> MemoryScorer:
        """Fit on leave-one-out rows; stays unfitted (and says so) when they are too few."""
        from sklearn.linear_model import LogisticRegression

        X, y = np.asarray(X, dtype=float).reshape(-1, len(FEATURES)), np.asarray(y, dtype=int)
        self.n_rows, self.n_right = len(y), int(y.sum())
        self.n_near = int(X[:, FEATURES.index("near")].sum())
        if len(y) < MIN_ROWS or min(self.n_right, len(y) - self.n_right) < MIN_PER_CLASS:
            self.coef, self.intercept = [], 0.0
            return self
        model = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
        self.coef, self.intercept = model.coef_[0].astype(float).tolist(), float(model.intercept_[0])
        self.threshold, self.near_threshold = self._fit_thresholds(X, y)
        return self

    def _fit_thresholds(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(the lowest cross-fitted score whose rows at or above it are right at ``target_precision``;
        the same over the near rows alone, by the precision's Wilson lower bound)."""
        from sklearn.linear_model import LogisticRegression

        folds = np.arange(len(y)) % FOLDS
        scores = np.empty(len(y))
        for fold in range(FOLDS):
            train, test = folds != fold, folds == fold
            if len(set(y[train])) < 2:
                scores[test] = self.score(X[test])
                continue
            model = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], y[train])
            scores[test] = model.predict_proba(X[test])[:, 1]
        floor = self.target_precision - THRESHOLD_SLACK
        threshold = lowest_threshold_at_precision(scores, y, self.target_precision)
        near = X[:, FEATURES.index("near")] > 0
        near_threshold = lowest_threshold_at_precision(scores[near], y[near], self.target_precision, z=LOWER_BOUND_Z)
        return (
            1.0 if threshold is None else max(threshold, floor),
            1.0 if near_threshold is None or threshold is None else max(near_threshold, threshold, floor),
        )

    @property
    def knows_near(self) -> bool:
        """Whether codes remembered from near titles may be accepted without review."""
        return self.fitted and self.n_near >= MIN_NEAR_ROWS

    def score(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float).reshape(-1, len(FEATURES))
        if not self.fitted:  # the smoothed share of agreeing reviews: (agree + 1) / (all + 2)
            agree, other = np.expm1(X[:, 0]), np.expm1(X[:, 1])
            return (agree + 1.0) / (agree + other + 2.0)
        return 1.0 / (1.0 + np.exp(-(X @ np.asarray(self.coef) + self.intercept)))

    def describe(self) -> str:
        if not self.fitted:
            return f"not fitted yet ({self.n_rows} leave-one-out rows; needs {MIN_ROWS} with both outcomes)"
        weights = ", ".join(f"{n}={w:+.2f}" for n, w in zip(FEATURES, self.coef))
        return (
            f"fitted on {self.n_rows} leave-one-out rows ({self.n_right} right, {self.n_near} from near titles): {weights}, intercept "
            f"{self.intercept:+.2f}; accepted at >= {self.threshold:.3f}, from near titles at >= {self.near_threshold:.3f} "
            f"(precision {self.target_precision:.2f})"
        )


def leave_one_out(memory: TitleMemory, reviewed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Training rows for :class:`MemoryScorer`: one per reviewed posting whose key has other
    reviewed postings (or, where it has none, whose title's head has: :meth:`TitleMemory.lookup_without`).
    ``reviewed`` has ``posting_id``, ``memory_key``, ``code`` (the reviewer's; ``not_codable`` for a
    posting marked so), ``model_codes`` (the model's own ranking of it) and optionally ``near_key``."""
    X, y = [], []
    if "near_key" not in reviewed.columns:
        reviewed = reviewed.assign(near_key="")
    for row in reviewed.itertuples(index=False):
        rest = memory.lookup_without(row.memory_key, row.near_key or "", row.posting_id, row.code)
        if rest is None or rest.code == NOT_CODABLE:
            continue
        X.append(features(rest, rest.code, row.model_codes))
        y.append(int(rest.code == row.code))
    return np.asarray(X, dtype=float).reshape(-1, len(FEATURES)), np.asarray(y, dtype=int)
