"""The model's review threshold, refitted on what the reviewers decided: a decision pays back at once
on the model's own predictions too, not only through the memory and the next retrain.

A bundle's review threshold is fitted when it is trained, on the hand-coded real-postings benchmark
(:mod:`jobclass.training.calibration`): a few hundred federal postings, which may not be the stream a
user runs. Every reviewed posting the model coded on its own is a labelled row from the user's own
stream: the model's top-1 score when it predicted it, and whether the reviewer chose that code. The
nightly refits the threshold on those rows: the lowest score at which the reviewed postings scoring
at least as high were right at the target precision (0.85, the agreement of two coders) by the lower
bound of a one-sided 90% Wilson interval, once at least :data:`MIN_REVIEWED` of them are. Until then, or when no score reaches the target, the
bundle's threshold stands. The refitted threshold may be lower than the bundle's or, where reviewed
postings above it were wrong too often, higher.

The reviewed rows are mostly postings the model flagged (those it accepted are rarely reviewed), so
they measure the precision just under the bundle's threshold: lowering the threshold to where that
slice is right at the target keeps the accepted postings above it at least as precise, as long as
the bundle's own accepted postings meet the target. Only the current model's predictions count:
the score is a model's own, and another version's says nothing about it. Each title counts once
(its first reviewed posting, :func:`jobclass.pipeline.memory.reviewed_threshold`): the threshold
decides postings whose title the memory does not hold, and one bulk decision over 80 postings with
one title would otherwise outvote 79 other titles (the stream simulation showed it: counted per
posting, the refit accepted the model's codes at 0.66 precision; benchmarks/RESULTS.md, issue 27).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobclass.model.classifier import TARGET_PRECISION
from jobclass.model.thresholds import lowest_threshold_at_precision

#: Reviewed postings the model coded on its own that must score at or above a refitted threshold.
MIN_REVIEWED = 30
#: The refit asks the target of the precision's lower bound (Wilson, one-sided 90%), not of its
#: point estimate: the lowest threshold that a small sample lets through is the luckiest one.
LOWER_BOUND_Z = 1.2816


@dataclass(frozen=True)
class ReviewedThreshold:
    """The review threshold refitted on reviewed postings (``threshold``), or None: the bundle's stands."""

    threshold: float | None = None
    n_reviewed: int = 0  # reviewed postings the model coded on its own
    n_accepted: int = 0  # of those, scoring at or above ``threshold``
    n_right: int = 0  # of those, the reviewer chose the model's top 1
    target_precision: float = TARGET_PRECISION

    @property
    def refitted(self) -> bool:
        return self.threshold is not None

    def describe(self) -> str:
        if self.threshold is None:
            return (
                f"the bundle's ({self.n_reviewed} reviewed postings of this model; a refit needs {MIN_REVIEWED} "
                f"scoring at or above a threshold and right at {self.target_precision:.2f})"
            )
        return (
            f"{self.threshold:.3f}, refitted on {self.n_reviewed} reviewed postings of this model "
            f"({self.n_right} of the {self.n_accepted} at or above it right; target {self.target_precision:.2f})"
        )


def fit_reviewed_threshold(
    scores: np.ndarray,
    correct: np.ndarray,
    target_precision: float = TARGET_PRECISION,
    min_reviewed: int = MIN_REVIEWED,
) -> ReviewedThreshold:
    """The review threshold from reviewed postings the model coded on its own: ``scores`` (its top-1
    score), ``correct`` (the reviewer chose that code)."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    fitted = lowest_threshold_at_precision(scores, correct, target_precision, min_accepted=min_reviewed, z=LOWER_BOUND_Z)
    if fitted is None:
        return ReviewedThreshold(None, len(scores), 0, 0, target_precision)
    accepted = scores >= fitted
    return ReviewedThreshold(fitted, len(scores), int(accepted.sum()), int(correct[accepted].sum()), target_precision)
