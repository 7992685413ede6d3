"""The backlog step, on SQLite and PostgreSQL, with a real (tiny) model: a decision made after a night
was coded reaches that night's pending postings with the same title at once (the interval is re-run
with the memory), SQL and Parquet stay one, and nothing is re-run twice for the same decision."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import sqlalchemy as sa

PA = "13-1111.00"
DAY1, DAY2, DAY3 = "2026-11-25", "2026-11-26", "2026-11-27"


def _load(engine, day: str, postings: list[tuple[str, str]]) -> None:
    from jobclass.pipeline.ingest import load_records

    records = [{"id": p, "title": t, "body": "Analyze programs and prepare reports on operations."} for p, t in postings]
    load_records(engine, records, source="test", ingested_at=f"{day}T06:00:00Z")


def _top1(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM predictions WHERE rank = 1")).fetchall()
    return {r.posting_id: dict(r._mapping) for r in rows}


@pytest.mark.slow
def test_a_decision_recodes_the_pending_postings_of_earlier_nights(engine, tiny_classifier, tmp_path):
    from jobclass.pipeline.backlog import recode_backlog
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.labels import CODED, Decision, record_decision
    from jobclass.store.memory import retire

    strict = dataclasses.replace(tiny_classifier, settings=dataclasses.replace(tiny_classifier.settings, review_threshold=1.01))
    _load(engine, DAY1, [("p1", "Program Analyst"), ("p2", "Program Analyst"), ("w1", "Welder")])
    _load(engine, DAY2, [("p3", "PROGRAM ANALYST"), ("c1", "Chemist")])
    for start, end in ((DAY1, DAY2), (DAY2, DAY3)):
        assert classify_interval(engine, strict, start, end, top_k=3, out_dir=tmp_path).status == "success"
    before = _top1(engine)
    assert {p: r["source"] for p, r in before.items()} == dict.fromkeys(["p1", "p2", "w1", "p3", "c1"], "model")
    assert recode_backlog(engine, strict, DAY3, top_k=3, out_dir=tmp_path) == []  # nothing decided yet

    record_decision(engine, Decision("p1", CODED, PA, "rita", strict.version))
    reruns = recode_backlog(engine, strict, DAY3, top_k=3, out_dir=tmp_path)
    # both nights hold a pending program analyst: both are re-run, each as its own interval, reconciled
    assert [(r.interval_start[:10], r.status) for r in reruns] == [(DAY1, "success"), (DAY2, "success")]
    after = _top1(engine)
    for posting in ("p2", "p3"):
        assert (after[posting]["onet_code"], after[posting]["source"]) == (PA, "memory")
        assert after[posting]["evidence"].startswith(f"reviewed: 1 posting with this title coded {PA}, last by rita")
        assert after[posting]["needs_review"]  # one review against an unfitted score: still a human's call
    # p1, the decided posting, keeps the model's own rows: its label is its code, and the memory's
    # score and the threshold's refit learn from the model's rows of reviewed postings
    for posting in ("w1", "c1", "p1"):  # other titles, and the decided posting: the model's rows, unchanged
        assert {k: after[posting][k] for k in ("onet_code", "score", "source")} == {
            k: before[posting][k] for k in ("onet_code", "score", "source")
        }
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT COUNT(*), SUM(rows_predicted) FROM prediction_runs WHERE status = 'success'")).one()
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar()
    assert tuple(runs) == (2, 5) and rows == 5 * 3  # re-runs replace, never add
    parquet = pd.concat(pd.read_parquet(p) for p in tmp_path.rglob("*.parquet"))
    assert len(parquet) == 15 and parquet["posting_id"].value_counts().eq(3).all()
    top = parquet[parquet["rank"] == 1].set_index("posting_id")
    assert top.loc["p2", "source"] == "memory" and top.loc["p3", "onet_code"] == PA  # Parquet agrees with SQL

    # The same decision is not acted on twice: the runs finished after it.
    assert recode_backlog(engine, strict, DAY3, top_k=3, out_dir=tmp_path) == []
    # Outside the lookback, an interval is left as it is: p2 (night 1) is pending, its title decided again.
    record_decision(engine, Decision("p3", CODED, PA, "sam", strict.version))
    assert recode_backlog(engine, strict, DAY3, lookback_days=0, top_k=3, out_dir=tmp_path) == []
    assert [r.interval_start[:10] for r in recode_backlog(engine, strict, DAY3, top_k=3, out_dir=tmp_path)] == [DAY1]
    assert _top1(engine)["p2"]["evidence"].startswith(f"reviewed: 2 postings with this title coded {PA}, last by sam")

    # Retiring the key changes the entry too: the pending posting goes back to the model's own rows.
    retire(engine, "program analyst", "rita", "mixed duties")
    assert [r.interval_start[:10] for r in recode_backlog(engine, strict, DAY3, top_k=3, out_dir=tmp_path)] == [DAY1]
    assert _top1(engine)["p2"]["source"] == "model" and _top1(engine)["p2"]["onet_code"] == before["p2"]["onet_code"]
