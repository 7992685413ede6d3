"""The model's review threshold refitted on reviewed postings: the rule, and what the nightly's
memory step does with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobclass.memory.apply import FittedMemory, apply_memory, reflag
from jobclass.memory.entries import TitleMemory
from jobclass.memory.model_threshold import MIN_REVIEWED, ReviewedThreshold, fit_reviewed_threshold
from jobclass.memory.scorer import MemoryScorer
from jobclass.model.thresholds import lowest_threshold_at_precision
from jobclass.pipeline.memory import reviewed_threshold


def test_the_lowest_threshold_needs_the_precision_and_enough_rows_above_it():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, True, True, False, False])
    assert lowest_threshold_at_precision(scores, correct, 0.75) == 0.6  # 3 of 4 right
    assert lowest_threshold_at_precision(scores, correct, 0.8) == 0.7
    assert lowest_threshold_at_precision(scores, correct, 0.8, min_accepted=4) is None
    assert lowest_threshold_at_precision(np.array([]), np.array([], dtype=bool), 0.8) is None


def test_tied_scores_are_accepted_together_or_not_at_all():
    """``score >= t`` accepts every row tied at t: the precision is checked on all of them (the memory's
    score takes few distinct values, so ties are the rule there)."""
    scores = np.array([0.9] * 12 + [0.5] * 5)
    correct = np.array([True] * 10 + [False] * 2 + [True] * 5)  # the two wrong ones sort last in the tie
    assert lowest_threshold_at_precision(scores, correct, 0.85) == 0.5  # 15 of 17 right: 0.88
    assert lowest_threshold_at_precision(scores, correct, 0.9) is None  # 10 of the 12 at 0.9: 0.83
    assert lowest_threshold_at_precision(scores, correct, 0.8, z=1.2816) is None  # lower bound of 15/17 < 0.8


def test_a_refit_needs_enough_reviewed_postings_at_the_target():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 400)
    correct = rng.uniform(0, 1, 400) < scores  # right about as often as the score says
    fitted = fit_reviewed_threshold(scores, correct, 0.85)
    assert fitted.refitted and fitted.n_reviewed == 400
    accepted = scores >= fitted.threshold
    assert fitted.n_accepted == accepted.sum() >= MIN_REVIEWED
    assert fitted.n_right / fitted.n_accepted >= 0.85 and correct[accepted].mean() >= 0.85
    assert lowest_threshold_at_precision(scores, correct, 0.85, MIN_REVIEWED) < fitted.threshold  # the bound is stricter
    assert 0.5 < fitted.threshold < 0.95
    assert "refitted on 400 reviewed postings" in fitted.describe()

    few = fit_reviewed_threshold(scores[:MIN_REVIEWED - 1], np.ones(MIN_REVIEWED - 1, dtype=bool))
    assert not few.refitted and few.threshold is None and "the bundle's" in few.describe()
    never_right = fit_reviewed_threshold(scores, np.zeros(400, dtype=bool))
    assert not never_right.refitted


def _rows(posting_id: str, top1: float, needs_review: bool) -> list[dict]:
    return [
        {
            "posting_id": posting_id, "rank": r, "onet_code": c, "onet_title": c, "score": s, "soc6_code": c[:7],
            "soc6_score": s, "major_group": c[:2], "major_group_score": s, "needs_review": needs_review,
            "backoff_level": "detailed", "evidence": "", "evidence_score": 0.0, "truncated": False,
        }
        for r, (c, s) in enumerate([("13-1111.00", top1), ("13-2031.00", (1 - top1) / 2)], 1)
    ]


def test_reflag_sets_needs_review_from_the_refitted_threshold_on_every_rank():
    predictions = pd.DataFrame(_rows("a", 0.7, True) + _rows("b", 0.3, True) + _rows("c", 0.95, False))
    refit = ReviewedThreshold(0.6, 80, 40, 35)
    flagged = reflag(predictions, refit).groupby("posting_id")["needs_review"].agg(set).to_dict()
    assert flagged == {"a": {False}, "b": {True}, "c": {False}}
    assert reflag(predictions, ReviewedThreshold()).equals(predictions)  # not refitted: the bundle's flags
    assert reflag(predictions, None).equals(predictions)


def test_the_nightly_memory_step_applies_the_refitted_threshold_to_the_models_own_postings():
    predictions = pd.DataFrame(_rows("a", 0.7, True) + _rows("b", 0.3, True))
    fitted = FittedMemory(TitleMemory(), MemoryScorer(), model_threshold=ReviewedThreshold(0.6, 80, 40, 35))
    rows, rejects = apply_memory(predictions, {"a": "clerk", "b": "welder"}, fitted, {})
    top = rows[rows["rank"] == 1].set_index("posting_id")
    assert top["needs_review"].to_dict() == {"a": False, "b": True}
    assert set(top["source"]) == {"model"} and rejects.empty
    assert "the model's review threshold: 0.600, refitted" in fitted.describe()


def test_the_refit_reads_the_reviewers_current_decisions_against_the_models_top_1_one_row_a_title():
    n, repeats = 40, 60
    ids = [f"p{i}" for i in range(n)] + [f"r{i}" for i in range(repeats)]
    decisions = pd.DataFrame(
        {
            "posting_id": ids,
            "memory_key": [f"title {i}" for i in range(n)] + ["program analyst"] * repeats,
            "decision": ["coded"] * (n - 1) + ["not_codable"] + ["coded"] * repeats,
            "onet_code": ["13-1111.00"] * (n - 1) + [""] + ["13-1111.00"] * repeats,
            "created_at": [f"2026-12-01T00:00:{i:02d}.000000Z" for i in range(n)] + ["2026-12-02T00:00:00.000000Z"] * repeats,
        }
    )
    scores = np.linspace(0.95, 0.2, n + 1)
    top1 = pd.DataFrame(
        {
            "posting_id": ids[:n] + ["unreviewed"] + ids[n:],
            "score": [*scores, *[0.1] * repeats],
            "onet_code": ["13-1111.00"] * 30 + ["13-2031.00"] * 10 + ["13-1111.00"] * (1 + repeats),
        }
    )
    refit = reviewed_threshold(decisions, top1)
    # the unreviewed posting is not a row; the 60 postings of one title (one bulk decision, say) are one
    assert refit.n_reviewed == n + 1
    # the 10 lowest-scored titles were coded otherwise or not codable: 30 right of the top 32 has a
    # Wilson lower bound of 0.859, of 33 of 0.824 (the share alone would go to 35: 0.857); the one
    # frequent title, right but scored lowest, does not outvote them
    assert refit.refitted and (refit.n_accepted, refit.n_right) == (32, 30)
    assert refit.threshold == pytest.approx(scores[31])
    # counted per posting, the 60 right answers would have carried the threshold down to 0.1
    per_posting = reviewed_threshold(decisions.assign(memory_key=ids), top1)
    assert per_posting.threshold == pytest.approx(0.1)
