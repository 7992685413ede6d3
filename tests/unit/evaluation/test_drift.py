"""The population stability index and the nightly's drift checks (pure functions)."""

from __future__ import annotations

import math

import pytest

from jobclass.evaluation.drift import (
    PSI_THRESHOLD,
    DriftCheck,
    drift_checks,
    population_stability_index,
    score_histogram,
    shares,
)


def test_identical_distributions_have_zero_psi():
    counts = {"11": 10, "15": 30, "29": 60}
    assert population_stability_index(counts, counts) == pytest.approx(0.0)
    assert population_stability_index(counts, {k: 7 * v for k, v in counts.items()}) == pytest.approx(0.0)


def test_psi_by_hand():
    baseline, current = {"a": 50, "b": 50}, {"a": 80, "b": 20}
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert population_stability_index(baseline, current) == pytest.approx(expected)
    assert expected > PSI_THRESHOLD  # a shift this large is drift


def test_psi_is_finite_when_a_bin_is_empty_on_one_side():
    psi = population_stability_index({"a": 100}, {"a": 50, "b": 50})
    assert psi is not None and math.isfinite(psi) and psi > PSI_THRESHOLD


def test_psi_with_nothing_to_compare_is_none():
    assert population_stability_index({}, {"a": 1}) is None
    assert population_stability_index({"a": 1}, {"a": 0}) is None


def test_a_small_shift_is_not_drift():
    psi = population_stability_index({"a": 50, "b": 50}, {"a": 52, "b": 48})
    assert psi is not None and psi < 0.01


def test_shares():
    assert shares({"a": 1, "b": 3}, ["a", "b", "c"]) == {"a": 0.25, "b": 0.75, "c": 0.0}
    assert shares({}, ["a"]) == {"a": 0.0}


def test_score_histogram_bins_every_score_once():
    histogram = score_histogram([0.0, 0.05, 0.1, 0.55, 0.99, 1.0, 1.2, -0.1])
    assert list(histogram) == [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)]
    assert histogram["0.0-0.1"] == 3  # 0.0, 0.05 and the clipped -0.1
    assert histogram["0.1-0.2"] == 1 and histogram["0.5-0.6"] == 1
    assert histogram["0.9-1.0"] == 3  # 0.99, 1.0 and the clipped 1.2
    assert sum(histogram.values()) == 8


def test_drift_checks():
    checks = drift_checks(
        major_groups={"29": 90, "15": 10},
        baseline_major_groups={"29": 10, "15": 90},
        scores={"0.0-0.1": 5},
        baseline_scores={"0.0-0.1": 50},
    )
    assert [c.name for c in checks] == ["major-group mix", "score distribution"]
    assert checks[0].drifted and not checks[1].drifted
    assert checks[0].as_dict()["drifted"] is True
    assert not DriftCheck("x", None).drifted
