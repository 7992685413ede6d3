"""Drift of a nightly run against the trailing nights: the population stability index (PSI).

Pure functions over counts, no database and no Airflow: :mod:`jobclass.pipeline.run_report`
feeds them a run's statistics (:mod:`jobclass.store.run_stats`).

PSI = sum over bins of (a - e) * ln(a / e), with ``a`` and ``e`` the shares of this run and of the
baseline in each bin. A bin empty on one side gets a small share (``epsilon``) so the sum stays
finite. Rule of thumb: under 0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a significant one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: A PSI above this is reported as drift (and logged as a warning by the nightly).
PSI_THRESHOLD = 0.2
#: The share given to a bin that is empty on one side.
EPSILON = 1e-4
#: Score histogram bins: [0, 0.1), [0.1, 0.2), ..., [0.9, 1.0] (a score of exactly 1.0 is in the last).
SCORE_EDGES: tuple[float, ...] = tuple(i / 10 for i in range(11))


@dataclass(frozen=True)
class DriftCheck:
    """One PSI comparison: what was compared, its PSI, and whether it is above the threshold."""

    name: str
    psi: float | None  # None: no baseline (or no rows) to compare with
    threshold: float = PSI_THRESHOLD

    @property
    def drifted(self) -> bool:
        return self.psi is not None and self.psi > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


def shares(counts: Mapping[str, float], keys: Iterable[str]) -> dict[str, float]:
    """Each key's share of the total of ``counts`` (0 for a missing key; all 0 when the total is 0)."""
    total = float(sum(counts.values()))
    return {k: (float(counts.get(k, 0)) / total if total > 0 else 0.0) for k in keys}


def population_stability_index(
    baseline: Mapping[str, float], current: Mapping[str, float], *, epsilon: float = EPSILON
) -> float | None:
    """The PSI of ``current`` against ``baseline``, both counts per bin (the union of their bins).

    ``None`` when either side has no rows: there is nothing to compare."""
    if sum(baseline.values()) <= 0 or sum(current.values()) <= 0:
        return None
    keys = sorted(set(baseline) | set(current))
    expected, actual = shares(baseline, keys), shares(current, keys)
    total = 0.0
    for key in keys:
        e, a = max(expected[key], epsilon), max(actual[key], epsilon)
        total += (a - e) * math.log(a / e)
    return total


def score_bin_label(index: int, edges: Sequence[float] = SCORE_EDGES) -> str:
    return f"{edges[index]:.1f}-{edges[index + 1]:.1f}"


def score_histogram(scores: Iterable[float], edges: Sequence[float] = SCORE_EDGES) -> dict[str, int]:
    """Counts of ``scores`` per bin of ``edges`` (in order, every bin present); out-of-range scores are clipped."""
    counts = [0] * (len(edges) - 1)
    for score in scores:
        index = 0
        while index < len(counts) - 1 and score >= edges[index + 1]:
            index += 1
        counts[index] += 1
    return {score_bin_label(i, edges): n for i, n in enumerate(counts)}


def drift_checks(
    *,
    major_groups: Mapping[str, float],
    baseline_major_groups: Mapping[str, float],
    scores: Mapping[str, float],
    baseline_scores: Mapping[str, float],
    threshold: float = PSI_THRESHOLD,
) -> list[DriftCheck]:
    """The two checks of a nightly run: its major-group mix and its score histogram against the baseline's."""
    return [
        DriftCheck("major-group mix", population_stability_index(baseline_major_groups, major_groups), threshold),
        DriftCheck("score distribution", population_stability_index(baseline_scores, scores), threshold),
    ]
