"""The coded-title memory as pure functions: keys, entries counted from decisions, the fitted score,
and the memory applied to the model's predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobclass.memory.apply import REMEMBERED_NOT_CODABLE, FittedMemory, MemorySettings, apply_memory, model_only
from jobclass.memory.entries import TitleMemory
from jobclass.memory.keys import TITLE_AGENCY, TITLE_SERIES, memory_key, near_key
from jobclass.memory.scorer import FEATURES, MIN_NEAR_ROWS, MIN_ROWS, MemoryScorer, features, leave_one_out

PA, BA = "13-1111.00", "13-2031.00"


def _decisions(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    """(posting, key, code or "" for not codable, reviewer, day) -> the store's decision rows."""
    return pd.DataFrame(
        [
            {
                "posting_id": p, "memory_key": k, "decision": "coded" if c else "not_codable", "onet_code": c,
                "reviewer": r, "created_at": f"2026-12-{d}T00:00:00.000000Z",
            }
            for p, k, c, r, d in rows
        ]
    )


def _model(posting_id: str, codes: list[str], needs_review: bool = True) -> list[dict]:
    return [
        {
            "posting_id": posting_id, "rank": r, "onet_code": c, "onet_title": f"title {c}", "score": 0.5 / r,
            "soc6_code": c[:7], "soc6_score": 0.5 / r, "major_group": c[:2], "major_group_score": 0.5 / r,
            "needs_review": needs_review, "backoff_level": "detailed", "evidence": f"near {c}", "evidence_score": 0.4,
            "truncated": False,
        }
        for r, c in enumerate(codes, 1)
    ]


class AlwaysFitted(MemoryScorer):
    """A scorer fitted on made-up rows where many agreeing reviews and the model's agreement are right."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        X = np.array([[np.log1p(a), 0.0, float(t), float(t or k), 0.0] for a in (1, 2, 5) for t in (0, 1) for k in (0, 1)] * 10)
        y = (X[:, 0] + X[:, 2] + rng.normal(0, 0.3, len(X)) > 1.2).astype(int)
        self.fit(X, y)


def test_the_key_is_the_cleaned_title_and_a_sentence_has_none():
    assert memory_key("Program Analyst") == memory_key("PROGRAM ANALYST") == "program analyst"
    assert memory_key("Sr. Software Engineer") == memory_key("senior software engineer")
    assert memory_key("We are looking for great people to join our team.") == ""
    assert memory_key(None) == memory_key("") == ""
    extras = {"organization": "Veterans Health Administration", "occupational_series": ["0343"]}
    assert memory_key("Program Analyst", extras, TITLE_AGENCY) == "program analyst|veterans health administration"
    assert memory_key("Program Analyst", extras, TITLE_SERIES) == "program analyst|0343"
    assert memory_key("Program Analyst", {}, TITLE_SERIES) == "program analyst"  # no series: the title's key
    with pytest.raises(ValueError, match="memory key"):
        memory_key("Program Analyst", None, "title+moon")


def test_entries_count_decisions_say_who_and_when_and_flag_conflicts():
    memory = TitleMemory.from_decisions(
        _decisions(
            ("a", "program analyst", PA, "rita", "01"),
            ("b", "program analyst", PA, "bob", "02"),
            ("c", "budget analyst", BA, "bob", "02"),
            ("d", "budget analyst", PA, "rita", "03"),
            ("e", "", PA, "rita", "03"),  # no key: not remembered
        )
    )
    assert len(memory) == 2
    pa = memory.get("program analyst")
    assert (pa.code, pa.n, pa.n_agree, pa.conflict) == (PA, 2, 2, False)
    assert pa.evidence() == f"reviewed: 2 postings with this title coded {PA}, last by bob on 2026-12-02"
    ba = memory.get("budget analyst")
    assert ba.conflict and ba.code == PA  # a tie: the code decided last comes first
    assert BA in ba.evidence() and PA in ba.evidence() and "conflicting" in ba.evidence()
    assert pa.without("a", PA).n == 1 and pa.without("a", PA).without("b", PA) is None


def test_a_retired_key_forgets_what_was_decided_before():
    decisions = _decisions(("a", "program analyst", BA, "rita", "01"), ("b", "program analyst", PA, "bob", "05"))
    assert TitleMemory.from_decisions(decisions).get("program analyst").conflict
    retired = TitleMemory.from_decisions(decisions, {"program analyst": "2026-12-03T00:00:00.000000Z"})
    entry = retired.get("program analyst")
    assert (entry.code, entry.n, entry.conflict) == (PA, 1, False)
    assert TitleMemory.from_decisions(decisions, {"program analyst": "2026-12-06T00:00:00.000000Z"}).get("program analyst") is None


def test_the_score_is_fitted_from_reviews_and_is_never_a_constant():
    unfitted = MemoryScorer()
    memory = TitleMemory.from_decisions(_decisions(*[(f"p{i}", "k", PA, "rita", "01") for i in range(3)]))
    one_review = features(memory.get("k").without("p0", PA).without("p1", PA), PA, [])
    scores = unfitted.score(np.array([one_review, features(memory.get("k"), PA, [PA])]))
    assert not unfitted.fitted and scores[0] == pytest.approx(2 / 3) and scores[1] == pytest.approx(4 / 5)
    fitted = AlwaysFitted()
    assert fitted.fitted and "fitted on" in fitted.describe()
    entry = memory.get("k")
    agree, disagree = fitted.score(np.array([features(entry, PA, [PA, BA]), features(entry, PA, [BA, "11-1021.00"])]))
    assert 0 < disagree < agree < 1  # the model's agreement raises the score
    few = MemoryScorer().fit(np.zeros((MIN_ROWS - 1, len(FEATURES))), np.r_[np.ones(MIN_ROWS - 5), np.zeros(4)])
    assert not few.fitted and "not fitted yet" in few.describe()


def test_leave_one_out_scores_each_reviewed_posting_by_the_others():
    decisions = _decisions(
        ("a", "k", PA, "rita", "01"), ("b", "k", PA, "rita", "02"), ("c", "k", BA, "bob", "03"), ("d", "solo", PA, "bob", "03")
    )
    memory = TitleMemory.from_decisions(decisions)
    reviewed = pd.DataFrame(
        {"posting_id": list("abcd"), "memory_key": ["k", "k", "k", "solo"], "code": [PA, PA, BA, PA],
         "model_codes": [[PA], [BA], [BA], [PA]]}
    )
    X, y = leave_one_out(memory, reviewed)
    # a: the others say PA x1, BA x1 (tie: BA decided last) -> wrong; b: PA x1 BA x1 -> BA, wrong;
    # c: PA x2 -> wrong for c (BA); d: alone, no row.
    assert len(y) == 3 and y.tolist() == [0, 0, 0]
    assert X[2].tolist() == pytest.approx([np.log1p(2), 0.0, 0.0, 0.0, 0.0])


def test_a_remembered_title_gets_its_code_first_the_model_after_it():
    memory = TitleMemory.from_decisions(_decisions(*[(f"r{i}", "program analyst", PA, "rita", "01") for i in range(4)]))
    predictions = pd.DataFrame(_model("x", [BA, PA, "11-1021.00"]) + _model("y", ["15-1252.00", "15-1211.00", "15-1299.08"]))
    rows, rejects = apply_memory(predictions, {"x": "program analyst", "y": "software engineer"}, FittedMemory(memory, AlwaysFitted()), {PA: "Management Analysts"})
    x = rows[rows["posting_id"] == "x"]
    assert x["onet_code"].tolist() == [PA, BA, "11-1021.00"] and x["rank"].tolist() == [1, 2, 3]
    assert x["source"].tolist() == ["memory", "model", "model"]
    assert x["model_rank"].tolist() == [2, 1, 3]
    assert x["onet_title"].iloc[0] == "Management Analysts"
    assert x["evidence"].iloc[0].startswith("reviewed: 4 postings with this title coded 13-1111.00, last by rita")
    assert 0 < x["score"].iloc[0] < 1 and x["score"].iloc[0] != 1.0
    assert x["needs_review"].nunique() == 1 and x["memory_key"].eq("program analyst").all()
    y = rows[rows["posting_id"] == "y"]
    assert y["source"].eq("model").all() and y["model_rank"].tolist() == [1, 2, 3] and y["needs_review"].all()
    assert rejects.empty


def test_conflicts_go_to_review_with_both_codes_and_an_unfitted_score_accepts_nothing():
    conflict = TitleMemory.from_decisions(
        _decisions(("a", "k", PA, "rita", "01"), ("b", "k", PA, "rita", "02"), ("c", "k", BA, "bob", "03"))
    )
    predictions = pd.DataFrame(_model("x", [PA, BA, "11-1021.00"], needs_review=False))
    rows, _ = apply_memory(predictions, {"x": "k"}, FittedMemory(conflict, AlwaysFitted()), {})
    assert rows["onet_code"].tolist()[:2] == [PA, BA] and rows["source"].tolist()[:2] == ["memory", "memory"]
    assert rows["needs_review"].all()
    agreed = TitleMemory.from_decisions(_decisions(*[(f"r{i}", "k", PA, "rita", "01") for i in range(5)]))
    flagged_by_model = pd.DataFrame(_model("x", [PA, BA, "11-1021.00"], needs_review=True))
    rows, _ = apply_memory(flagged_by_model, {"x": "k"}, FittedMemory(agreed, MemoryScorer()), {})
    assert rows["source"].iloc[0] == "memory" and rows["needs_review"].all()  # not fitted: reviewed
    rows, _ = apply_memory(predictions, {"x": "k"}, FittedMemory(agreed, AlwaysFitted()), {})
    assert not rows["needs_review"].any()  # 5 agreeing reviews and the model's top 1


def test_not_codable_is_remembered_rejected_after_two_reviews_flagged_after_one():
    once = TitleMemory.from_decisions(_decisions(("a", "public notice", "", "rita", "01")))
    twice = TitleMemory.from_decisions(_decisions(("a", "public notice", "", "rita", "01"), ("b", "public notice", "", "bob", "02")))
    predictions = pd.DataFrame(_model("x", [PA, BA], needs_review=False))
    rows, rejects = apply_memory(predictions, {"x": "public notice"}, FittedMemory(once, AlwaysFitted()), {})
    assert rejects.empty and rows["needs_review"].all() and rows["evidence"].iloc[0].startswith("reviewed: 1 posting with this title marked not codable")
    rows, rejects = apply_memory(predictions, {"x": "public notice"}, FittedMemory(twice, AlwaysFitted()), {})
    assert rows.empty and rejects.to_dict("records") == [
        {"posting_id": "x", "reason_code": REMEMBERED_NOT_CODABLE, "detail": "reviewed: 2 postings with this title marked not codable, last by bob on 2026-12-02"}
    ]


def test_without_a_memory_every_row_is_the_models():
    predictions = pd.DataFrame(_model("x", [PA, BA]))
    rows, rejects = apply_memory(predictions, {"x": "k"}, None, {})
    assert rows.equals(model_only(predictions, {"x": "k"})) and rejects.empty
    assert rows["source"].eq("model").all() and rows["memory_key"].eq("k").all()


def test_a_dominant_code_with_a_few_dissenting_reviews_is_not_a_conflict():
    """Duties win over the title: one budget analyst among seven program analysts does not contest the title."""
    rows = [(f"a{i}", "program analyst", PA, "rita", "01") for i in range(6)] + [("b", "program analyst", BA, "bob", "02")]
    entry = TitleMemory.from_decisions(_decisions(*rows)).get("program analyst")
    assert (entry.code, entry.n_agree, entry.n, entry.conflict) == (PA, 6, 7, False)  # 6/7 = 0.857 >= 0.85
    assert entry.evidence() == f"reviewed: 7 postings with this title, mostly: 6 coded {PA}, 1 coded {BA}, last by bob on 2026-12-02"
    less = TitleMemory.from_decisions(_decisions(*rows[1:])).get("program analyst")
    assert less.conflict  # 5/6 = 0.833: reviewers do not settle the title
    assert features(entry, PA, [PA])[1] == pytest.approx(np.log1p(1))  # the dissent is a feature of the score


def test_the_accept_threshold_is_fitted_for_the_target_precision():
    rng = np.random.default_rng(1)
    agree = rng.integers(1, 8, 400)
    top1 = rng.integers(0, 2, 400)
    X = np.c_[np.log1p(agree), np.zeros(400), top1, top1, np.zeros(400)]
    y = (rng.random(400) < 0.5 + 0.06 * agree + 0.1 * top1).astype(int)  # more reviews, model agrees: righter
    strict = MemoryScorer(target_precision=0.9).fit(X, y)
    loose = MemoryScorer(target_precision=0.8).fit(X, y)
    assert 0.75 <= strict.threshold <= 1.0 and 0.65 <= loose.threshold < strict.threshold
    accepted = strict.score(X) >= strict.threshold
    assert accepted.any() and y[accepted].mean() >= 0.85


def test_a_remembered_code_the_model_would_accept_itself_is_accepted_but_never_a_conflict():
    one = TitleMemory.from_decisions(_decisions(("a", "k", PA, "rita", "01")))
    agreeing = pd.DataFrame(_model("x", [PA, BA], needs_review=False))
    rows, _ = apply_memory(agreeing, {"x": "k"}, FittedMemory(one, MemoryScorer()), {})
    assert rows["source"].iloc[0] == "memory" and not rows["needs_review"].any()  # unfitted score, but both agree
    disagreeing = pd.DataFrame(_model("x", [BA, PA], needs_review=False))
    rows, _ = apply_memory(disagreeing, {"x": "k"}, FittedMemory(one, MemoryScorer()), {})
    assert rows["onet_code"].iloc[0] == PA and rows["needs_review"].all()  # the model accepts another code
    conflict = TitleMemory.from_decisions(_decisions(("a", "k", PA, "rita", "01"), ("b", "k", BA, "bob", "02")))
    rows, _ = apply_memory(agreeing, {"x": "k"}, FittedMemory(conflict, AlwaysFitted()), {})
    assert rows["needs_review"].all()


class AcceptsAll(MemoryScorer):
    """A fitted scorer whose threshold every remembered code passes: what is left to decide is the rule."""

    def __init__(self) -> None:
        super().__init__(coef=[1.0, 0.0, 0.0, 0.0, 0.0], intercept=5.0, threshold=0.0, near_threshold=0.0, n_near=MIN_NEAR_ROWS)


def test_a_code_against_the_models_top_1_needs_three_reviews_before_it_is_accepted():
    """Two early reviews of a title against the model (their postings' duties) must not code every
    later posting with that title unseen; from three agreeing reviews the memory may."""
    model_says_pa = pd.DataFrame(_model("x", [PA, "13-1151.00", "11-1021.00"], needs_review=True))
    for n, reviewed in ((1, True), (2, True), (3, False), (5, False)):
        memory = TitleMemory.from_decisions(_decisions(*[(f"r{i}", "k", "13-1151.00", "rita", "01") for i in range(n)]))
        rows, _ = apply_memory(model_says_pa, {"x": "k"}, FittedMemory(memory, AcceptsAll()), {})
        assert rows["onet_code"].iloc[0] == "13-1151.00" and rows["source"].iloc[0] == "memory"
        assert bool(rows["needs_review"].iloc[0]) is reviewed, n
    one_review = TitleMemory.from_decisions(_decisions(("r0", "k", PA, "rita", "01")))
    rows, _ = apply_memory(model_says_pa, {"x": "k"}, FittedMemory(one_review, AcceptsAll()), {})
    assert not rows["needs_review"].any()  # the model's top 1 is the remembered code: one review is enough
    strict = MemorySettings(min_reviews_against_model=6)
    five = TitleMemory.from_decisions(_decisions(*[(f"r{i}", "k", "13-1151.00", "rita", "01") for i in range(5)]))
    rows, _ = apply_memory(model_says_pa, {"x": "k"}, FittedMemory(five, AcceptsAll(), strict), {})
    assert rows["needs_review"].all()


def _near_decisions(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(posting, raw title, code, day) -> decisions keyed as the store's are (key and title head)."""
    frame = _decisions(*[(p, memory_key(t), c, "rita", d) for p, t, c, d in rows])
    return frame.assign(near_key=[near_key(t) for _, t, _, _ in rows])


def test_a_titles_head_drops_its_qualifiers_but_not_its_words():
    assert near_key("Economist (Pathways Recent Graduate)") == near_key("ECONOMIST") == "economist"
    assert near_key("Nurse - Night Shift") == near_key("Nurse #415") == "nurse"
    assert near_key("Mission Support Specialist: Budget") == "mission support specialist"
    # a comma and a slash are part of the title: "Farmworkers, Crop" is not "Farmworkers, Livestock"
    assert near_key("Farmworkers, Crop") == memory_key("Farmworkers, Crop") != near_key("Farmworkers, Livestock")
    assert near_key("Supervisory IT Specialist (INFOSEC)") == "supervisory it specialist" != near_key("IT Specialist")
    assert near_key("(MP)") == memory_key("(MP)")  # no head: the whole title
    assert near_key("We are looking for great people to join our team.") == near_key(None) == ""


def test_a_title_nobody_reviewed_falls_back_on_the_reviews_of_its_head():
    memory = TitleMemory.from_decisions(
        _near_decisions(*[(f"r{i}", "Economist (Direct Hire)", "19-3011.00", "01") for i in range(4)], ("s", "Economist", "19-3011.00", "02"))
    )
    own = memory.lookup(memory_key("Economist"), near_key("Economist"))
    assert own is memory.get("economist") and (own.n, own.near) == (1, False)  # its own title first
    near = memory.lookup(memory_key("Economist (Pathways)"), near_key("Economist (Pathways)"))
    assert (near.key, near.n, near.code, near.near) == ("economist", 5, "19-3011.00", True)
    assert near.evidence().startswith("reviewed: 5 postings with a title like this one (economist ...) coded 19-3011.00")
    assert memory.lookup(memory_key("Economist (Pathways)")) is None  # without the head: nothing
    # leave-one-out: the only posting with its own title falls back on the others with its head
    rest = memory.lookup_without("economist", "economist", "s", "19-3011.00")
    assert (rest.n, rest.near) == (4, True)
    retired = TitleMemory.from_decisions(
        _near_decisions(("a", "Economist (A)", "19-3011.00", "01"), ("b", "Economist (B)", "13-2011.00", "02")),
        {"economist b": "2026-12-05T00:00:00.000000Z"},
    )
    assert retired.near_entries["economist"].counts == {"19-3011.00": 1}  # a retired title stops counting for its head too
    assert retired.lookup("economist b", "economist") is None  # and its postings go to the model, not to the head
    assert retired.lookup("economist c", "economist").code == "19-3011.00"


def test_near_titles_are_a_feature_and_are_accepted_only_once_the_score_has_seen_them():
    decisions = _near_decisions(*[(f"r{i}", "Economist (Direct Hire)", "19-3011.00", "01") for i in range(4)])
    memory = TitleMemory.from_decisions(decisions)
    reviewed = pd.DataFrame(
        {"posting_id": ["x"], "memory_key": ["economist pathways"], "near_key": ["economist"], "code": ["19-3011.00"], "model_codes": [["19-3011.00"]]}
    )
    X, y = leave_one_out(memory, reviewed)
    assert X.tolist() == [pytest.approx([np.log1p(4), 0.0, 1.0, 1.0, 1.0])] and y.tolist() == [1]
    predictions = pd.DataFrame(_model("x", ["19-3011.00", BA], needs_review=True))
    keys, heads = {"x": "economist pathways"}, {"x": "economist"}
    unseen = AcceptsAll()
    unseen.n_near = MIN_NEAR_ROWS - 1
    rows, _ = apply_memory(predictions, keys, FittedMemory(memory, unseen), {}, near_keys=heads)
    assert rows["source"].iloc[0] == "memory" and rows["needs_review"].all()  # the score has not seen near titles
    assert "with a title like this one" in rows["evidence"].iloc[0] and rows["memory_key"].eq("economist pathways").all()
    rows, _ = apply_memory(predictions, keys, FittedMemory(memory, AcceptsAll()), {}, near_keys=heads)
    assert rows["source"].iloc[0] == "memory" and not rows["needs_review"].any()
    off = FittedMemory(memory, AcceptsAll(), MemorySettings(near_titles=False))
    rows, _ = apply_memory(predictions, keys, off, {}, near_keys=heads)
    assert rows["source"].eq("model").all()


def test_codes_from_near_titles_need_their_own_threshold():
    """Near rows pooled with exact ones borrow the exact titles' precision: they get a threshold of
    their own, fitted on them alone (by the Wilson lower bound), and none when they are often wrong."""
    rng = np.random.default_rng(0)
    exact = np.array([[np.log1p(a), 0.0, float(t), 1.0, 0.0] for a in (1, 2, 5) for t in (0, 1)] * 20)
    y_exact = (rng.random(len(exact)) < 0.5 + 0.47 * exact[:, 2]).astype(int)
    near = np.array([[np.log1p(a), 0.0, 1.0, 1.0, 1.0] for a in (2, 5)] * 15)
    for right, accepted in ((0.5, False), (1.0, True)):
        y_near = (rng.random(len(near)) < right).astype(int)
        scorer = MemoryScorer().fit(np.vstack([exact, near]), np.r_[y_exact, y_near])
        assert scorer.fitted and scorer.knows_near and scorer.threshold < 1.0
        assert (scorer.near_threshold < 1.0) is accepted, scorer.describe()
        assert scorer.near_threshold >= scorer.threshold
    # apply_memory: a near code scoring between the two thresholds goes to review; an exact one does not.
    between = MemoryScorer(coef=[1.0, 0.0, 0.0, 0.0, 0.0], intercept=0.0, threshold=0.5, near_threshold=0.99, n_near=MIN_NEAR_ROWS)
    memory = TitleMemory.from_decisions(_near_decisions(*[(f"r{i}", "Economist (Direct Hire)", "19-3011.00", "01") for i in range(4)]))
    predictions = pd.DataFrame(_model("x", ["19-3011.00", BA], needs_review=True))
    rows, _ = apply_memory(predictions, {"x": "economist pathways"}, FittedMemory(memory, between), {}, near_keys={"x": "economist"})
    assert rows["source"].iloc[0] == "memory" and rows["needs_review"].all()
    rows, _ = apply_memory(predictions, {"x": "economist direct hire"}, FittedMemory(memory, between), {}, near_keys={"x": "economist"})
    assert rows["source"].iloc[0] == "memory" and not rows["needs_review"].any()


def test_a_near_title_marked_not_codable_is_flagged_never_rejected():
    memory = TitleMemory.from_decisions(_near_decisions(*[(f"r{i}", "Public Notice (FAA)", "", "01") for i in range(3)]))
    predictions = pd.DataFrame(_model("x", [PA, BA], needs_review=False))
    rows, rejects = apply_memory(predictions, {"x": "public notice"}, FittedMemory(memory, AcceptsAll()), {}, near_keys={"x": "public notice"})
    assert rejects.empty and rows["needs_review"].all() and rows["source"].eq("model").all()
    assert rows["evidence"].iloc[0].startswith("reviewed: 3 postings with a title like this one (public notice ...) marked not codable")
