"""The gate's values travel by XCom: plain JSON, nothing a strict encoder refuses."""

from __future__ import annotations

import json

import numpy as np

from jobclass.pipeline.gate import GATE_METRICS, _headline, _plain, decide


def test_an_evaluation_is_plain_json_with_missing_scores_as_none():
    details = {
        "challenger": {
            "metrics": {"reported-titles": {"acc@1": np.float64(0.5), "n": np.int64(7), "precision@review": np.nan}},
            "groups": [{"major_group": "15", "acc@1": np.float32(0.25), "n": 3, "share": float("inf")}],
        }
    }
    plain = _plain(details)
    assert json.loads(json.dumps(plain, allow_nan=False)) == plain  # what the XCom backend does
    metrics = plain["challenger"]["metrics"]["reported-titles"]
    assert metrics == {"acc@1": 0.5, "n": 7, "precision@review": None}
    assert list(metrics) == ["acc@1", "n", "precision@review"]  # order kept for the report
    assert plain["challenger"]["groups"] == [{"major_group": "15", "acc@1": 0.25, "n": 3, "share": None}]


def test_the_headline_keeps_only_the_gate_metrics():
    assert _headline({"acc@1": np.float64(0.5), "mrr@10": 0.6, "n": 10, "benchmark": "x"}) == {
        "acc@1": 0.5,
        "mrr@10": 0.6,
    }
    assert set(GATE_METRICS) == {"acc@1", "acc@5", "mrr@10"}


def test_the_decision_carries_the_dry_run_for_keep_champion():
    evaluation = {"challenger_version": "new", "champion_version": "old", "challenger": {"acc@1": 0.9},
                  "champion": {"acc@1": 0.5}}
    assert decide(evaluation, {})["dry_run"] is False
    dry = decide(evaluation, {"dry_run": True})
    assert dry["dry_run"] is True and dry["promote"] is False
    assert json.loads(json.dumps(dry)) == dry
