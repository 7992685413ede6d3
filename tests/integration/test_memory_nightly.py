"""The coded-title memory end to end, on SQLite and PostgreSQL, with a real (tiny) model: a decision
reaches the next nightly run without a retrain, the queue asks first what settles most, one bulk
decision writes N labels, a correction changes the memory and keeps the old decision, entries are
listed and retired, and the retrain skips labels on benchmark postings."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

PA, BA = "13-1111.00", "13-2031.00"
DAY1, DAY2, DAY3 = "2026-11-25", "2026-11-26", "2026-11-27"


def _load(engine, day: str, postings: list[tuple[str, str]]) -> None:
    from jobclass.pipeline.ingest import load_records

    records = [{"id": pid, "title": title, "body": "Analyze programs and prepare reports on operations."} for pid, title in postings]
    load_records(engine, records, source="test", ingested_at=f"{day}T06:00:00Z")


def _night(engine, classifier, day: str, out, next_day: str):
    from jobclass.pipeline.interval import classify_interval

    summary = classify_interval(engine, classifier, day, next_day, top_k=3, out_dir=out)
    assert summary.status == "success"
    return summary


def _top(engine, posting_id: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM predictions WHERE posting_id = :p AND rank = 1 ORDER BY predicted_at DESC"), {"p": posting_id}
        ).first()
    return dict(row._mapping)


@pytest.mark.slow
def test_a_decision_codes_the_next_nights_postings_with_that_title(engine, tiny_classifier, tmp_path):
    from jobclass.pipeline.memory import memory_table
    from jobclass.store.labels import CODED, Decision, QueueFilter, pending_group, record_decision, review_queue

    _load(engine, DAY1, [("p1", "Program Analyst"), ("p2", "Program Analyst"), ("p3", "Program Analyst"), ("w1", "Welder")])
    _night(engine, tiny_classifier, DAY1, tmp_path, DAY2)
    assert _top(engine, "p1")["source"] == "model" and _top(engine, "p1")["memory_key"] == "program analyst"

    # The queue asks first the decision that settles most: the three program analysts share a key.
    with engine.begin() as conn:  # whatever the tiny model scored, all four are flagged
        conn.execute(sa.text("UPDATE predictions SET needs_review = TRUE"))
    rows, _ = review_queue(engine, QueueFilter(), 10)
    assert [r["memory_key"] for r in rows] == ["program analyst"] * 3 + ["welder"]
    assert [r["settles"] for r in rows] == [3, 3, 3, 1]
    assert [r["score"] for r in rows[:3]] == sorted(r["score"] for r in rows[:3])  # then the least certain
    assert {r["posting_id"] for r in pending_group(engine, "p1")} == {"p1", "p2", "p3"}

    record_decision(engine, Decision("p1", CODED, PA, "rita"))
    assert memory_table(engine)["memory_key"].tolist() == ["program analyst"]
    # The other two await the memory (the backlog step re-codes them from that decision): a decision
    # on them now settles nothing more, so the queue asks for the welder first.
    rows, _ = review_queue(engine, QueueFilter(), 10)
    assert (rows[0]["posting_id"], rows[0]["settles"]) == ("w1", 1)
    assert {(r["posting_id"], r["settles"]) for r in rows[1:]} == {("p2", 0), ("p3", 0)}
    # The review page says where the decisions worth making today end: after the welder, before them.
    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app

    with TestClient(create_app(engine_factory=lambda: engine, auth=None)) as client:
        page = client.get("/review").text
        every = client.get("/review", params={"state": "all"}).text  # p1, decided, in the queue too
    assert page.count('id="awaiting"') == 1
    # Their "apply to all" button counts the group it lists (both of them), though each settles 0,
    # and so it does in a view that also shows the decided p1.
    assert page.count("Apply to all 2 pending postings with this title") == 2
    assert every.count("Apply to all 2 pending postings with this title") == 2 and 'data-posting-id="p1"' in every
    assert page.index('data-posting-id="w1"') < page.index('id="awaiting"') < min(page.index('data-posting-id="p2"'), page.index('data-posting-id="p3"'))

    _load(engine, DAY2, [("p4", "PROGRAM ANALYST"), ("w2", "Welder"), ("p5", "Program Analyst (Budget)")])
    _night(engine, tiny_classifier, DAY2, tmp_path, DAY3)
    top = _top(engine, "p4")
    assert (top["onet_code"], top["source"]) == (PA, "memory")
    assert top["evidence"].startswith(f"reviewed: 1 posting with this title coded {PA}, last by rita on ")
    assert 0 < top["score"] < 1
    assert top["needs_review"]  # one review, and the score is not fitted yet: reviewed, not auto-accepted
    assert _top(engine, "w2")["source"] == "model"
    # A title nobody reviewed falls back on the reviews of its head ("Program Analyst"), and says so.
    near = _top(engine, "p5")
    assert (near["onet_code"], near["source"], near["memory_key"]) == (PA, "memory", "program analyst budget")
    assert near["evidence"].startswith(f"reviewed: 1 posting with a title like this one (program analyst ...) coded {PA}")
    assert near["needs_review"]
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text("SELECT source, COUNT(*) FROM predictions WHERE rank = 1 GROUP BY source")).fetchall())
    assert counts == {"memory": 2, "model": 5}
    parts = pd.concat(pd.read_parquet(p) for p in tmp_path.rglob("*.parquet"))
    memory_rows = parts[(parts["rank"] == 1) & (parts["source"] == "memory")].sort_values("posting_id")
    assert memory_rows["posting_id"].tolist() == ["p4", "p5"]
    assert memory_rows["memory_key"].tolist() == ["program analyst", "program analyst budget"]


@pytest.mark.slow
def test_bulk_decisions_corrections_and_retirement(engine, tiny_classifier, tmp_path):
    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app
    from jobclass.pipeline.memory import memory_table
    from jobclass.store.labels import current_labels, label_history
    from jobclass.store.memory import retire

    _load(engine, DAY1, [(f"p{i}", "Program Analyst") for i in range(1, 5)] + [("w1", "Welder")])
    _night(engine, tiny_classifier, DAY1, tmp_path, DAY2)
    with engine.begin() as conn:  # whatever the tiny model scored, the reviewer is asked about all four
        conn.execute(sa.text("UPDATE predictions SET needs_review = TRUE"))
    with TestClient(create_app(engine_factory=lambda: engine, auth=None)) as client:
        group = client.get("/review/group", params={"posting_id": "p2"}).json()
        assert group["memory_key"] == "program analyst" and group["n"] == 4
        ids = [p["posting_id"] for p in group["postings"]]
        response = client.post("/review/decisions/bulk", json={"posting_ids": ids, "decision": "coded", "onet_code": PA})
        assert response.status_code == 200, response.text
        bulk = response.json()
        assert bulk["recorded"] == 4 and bulk["memory"]["n"] == 4 and not bulk["memory"]["conflict"]
        labels = current_labels(engine, ids)
        assert {v["bulk_id"] for v in labels.values()} == {bulk["bulk_id"]}
        assert {(v["onet_code"], v["reviewer"]) for v in labels.values()} == {(PA, "anonymous")}
        # Already decided: a second bulk decision on them is refused (the list is stale).
        assert client.post("/review/decisions/bulk", json={"posting_ids": ids, "decision": "coded", "onet_code": BA}).status_code == 409

        # A correction: one of them was something else. The memory now holds a conflict; the old label is history.
        fixed = client.post("/review/decisions", json={"posting_id": "p3", "decision": "coded", "onet_code": BA})
        assert fixed.status_code == 200 and fixed.json()["memory"]["conflict"]
        assert [h["onet_code"] for h in label_history(engine, "p3")] == [PA, BA]
        assert label_history(engine, "p3")[0]["bulk_id"] == bulk["bulk_id"]
        entries = client.get("/review/memory/entries", params={"conflicts": True}).json()
        assert [e["memory_key"] for e in entries] == ["program analyst"] and entries[0]["codes"] == f"{PA} x3; {BA} x1"
        page = client.get("/memory")
        assert page.status_code == 200 and "program analyst" in page.text and "conflict" in page.text

        # The next posting with the title goes to review with both codes.
        _load(engine, DAY2, [("p9", "Program Analyst")])
        _night(engine, tiny_classifier, DAY2, tmp_path, DAY3)
        with engine.connect() as conn:
            top2 = conn.execute(sa.text("SELECT onet_code, source, needs_review FROM predictions WHERE posting_id = 'p9' AND rank <= 2 ORDER BY rank")).fetchall()
        assert [tuple(r) for r in top2] == [(PA, "memory", True), (BA, "memory", True)]

        retired = client.post("/review/memory/retire", json={"memory_key": "program analyst", "note": "mixed title"})
        assert retired.status_code == 200 and retired.json()["retired_by"] == "anonymous"
    assert memory_table(engine).empty  # retired: the decisions so far no longer count
    assert len(current_labels(engine, ids)) == 4  # ... but they stay labels
    with pytest.raises(ValueError, match="reviewer"):
        retire(engine, "program analyst", "")


def test_the_retrain_skips_reviewed_labels_on_benchmark_postings(engine, tmp_path):
    from jobclass.evaluation.real_postings import benchmark_posting_ids
    from jobclass.pipeline.retrain import build_training_set
    from jobclass.store.labels import CODED, Decision, record_decisions

    on_benchmark = sorted(benchmark_posting_ids())[:2]
    assert len(benchmark_posting_ids()) == 793
    _load(engine, DAY1, [(on_benchmark[0], "Program Analyst"), (on_benchmark[1], "Budget Analyst"), ("mine", "Welder")])
    record_decisions(engine, [Decision(p, CODED, PA, "rita") for p in [*on_benchmark, "mine"]])
    training = build_training_set(engine, tmp_path)
    assert training["n_labels_skipped_benchmark"] == 2
    assert training["n_labels_train"] + training["n_labels_holdout"] == 1
