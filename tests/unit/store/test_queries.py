"""The example queries in sql/queries/, on both databases.

Each query's exact result is checked against a small hand-built fixture whose counts, shares,
means and orderings are known (issue 16, item 8); and every query also runs against a sample
that the real classify path wrote (issue 3, acceptance 4).
"""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from jobclass.paths import DEMO_POSTINGS, project_root

QUERY_DIR = project_root() / "sql" / "queries"
QUERIES = sorted(QUERY_DIR.glob("*.sql"))
DAY, NEXT_DAY = "2026-11-25", "2026-11-26"

# The hand-built fixture: a champion and a later challenger, six postings, two partition days.
CHAMPION, CHALLENGER = "20261120T000000Z-default-aaaaaaaa", "20261124T000000Z-titles-bbbbbbbb"
TITLES = {
    "29-1141.00": "Registered Nurses",
    "29-1171.00": "Nurse Practitioners",
    "15-1252.00": "Software Developers",
    "43-4051.00": "Customer Service Representatives",
    "13-1111.00": "Management Analysts",
}
T24, T25, T25_LATER = "2026-11-24T03:00:00.000000Z", "2026-11-25T03:00:00.000000Z", "2026-11-25T04:00:00.000000Z"
# posting, model, rank, code, score, needs_review, partition date, predicted at
PREDICTIONS = [
    ("p1", CHAMPION, 1, "29-1141.00", 0.90, False, "2026-11-24", T24),
    ("p1", CHAMPION, 2, "29-1171.00", 0.05, False, "2026-11-24", T24),  # rank 2: in no top-1 query
    ("p2", CHAMPION, 1, "29-1141.00", 0.70, False, "2026-11-24", T24),
    ("p3", CHAMPION, 1, "15-1252.00", 0.40, True, "2026-11-24", T24),
    ("p4", CHAMPION, 1, "15-1252.00", 0.60, True, "2026-11-25", T25),
    ("p5", CHAMPION, 1, "43-4051.00", 0.30, False, "2026-11-25", T25),
    ("p6", CHAMPION, 1, "29-1141.00", 0.45, True, "2026-11-25", T25),  # reviewed: a label below
    ("p1", CHALLENGER, 1, "29-1141.00", 0.85, False, "2026-11-25", T25_LATER),
    ("p2", CHALLENGER, 1, "29-1171.00", 0.55, False, "2026-11-25", T25_LATER),
    ("p3", CHALLENGER, 1, "15-1252.00", 0.50, False, "2026-11-25", T25_LATER),
    ("p4", CHALLENGER, 1, "13-1111.00", 0.50, False, "2026-11-25", T25),  # a tie with the champion's
]
RUN_ID = "{start}/{end}/{model}"


def _interval(day: str) -> tuple[str, str]:
    start = pd.Timestamp(day)
    return tuple(t.strftime("%Y-%m-%dT%H:%M:%S.000000Z") for t in (start, start + pd.Timedelta(days=1)))


def _run(day: str, model: str, status: str, counts: tuple | None, started_at: str) -> dict:
    start, end = _interval(day)
    read, predicted, rejected = counts or (None, None, None)
    return {
        "run_id": RUN_ID.format(start=start, end=end, model=model), "start": start, "end": end, "model": model,
        "day": day, "read": read, "predicted": predicted, "rejected": rejected, "status": status,
        "started_at": started_at, "duration": 12.5 if counts else None,
    }


# Three recent runs (two started at the same second) and 20 older ones: the query shows 20.
RUNS = [
    _run("2026-11-24", CHAMPION, "success", (4, 3, 1), "2026-11-25T03:00:00.000000Z"),
    _run("2026-11-25", CHAMPION, "success", (3, 3, 0), "2026-11-26T03:00:00.000000Z"),
    _run("2026-11-25", CHALLENGER, "failed", None, "2026-11-26T03:00:00.000000Z"),
    *[
        _run(f"2026-10-{d:02d}", CHAMPION, "success", (1, 1, 0), f"2026-10-{d:02d}T03:00:00.000000Z")
        for d in range(1, 21)
    ],
]


class RankSwapped:
    """A challenger that disagrees with the champion: its ranks 1 and 2 swapped."""

    def __init__(self, inner, version: str) -> None:
        self.inner, self.version = inner, version

    def predict_frame(self, frame: pd.DataFrame, top_k: int = 5, batch_size: int = 64) -> pd.DataFrame:
        out = self.inner.predict_frame(frame, top_k=top_k)
        out["rank"] = out["rank"].map({1: 2, 2: 1}).fillna(out["rank"]).astype(int)
        return out


def test_the_five_queries_exist_with_a_one_line_comment():
    names = {q.stem for q in QUERIES}
    assert {
        "predictions_per_occupation_per_day",
        "latest_top1_per_posting",
        "low_confidence_to_review",
        "counts_by_major_group",
        "model_versions_disagree",
    } <= names
    for query in QUERIES:
        first, second = query.read_text(encoding="utf-8").splitlines()[:2]
        assert first.startswith("-- ") and len(first) > 10, query.name
        assert not second.startswith("--"), f"{query.name}: keep the comment to one line"


@pytest.fixture
def known(engine):
    """The hand-built fixture above, in a fresh database."""
    postings = [{"id": f"p{i}", "title": f"Posting {i}", "t": T24} for i in range(1, 7)]
    predictions = [
        {
            "posting": posting, "model": model, "rank": rank, "code": code, "title": TITLES[code], "score": score,
            "soc6": code[:7], "group": code[:2], "review": review, "day": day, "at": at,
            "run": RUN_ID.format(start=_interval(day)[0], end=_interval(day)[1], model=model),
        }
        for posting, model, rank, code, score, review, day, at in PREDICTIONS
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job_postings (id, title, body, source, ingested_at) VALUES (:id, :title, '', 'test', :t)"
            ),
            postings,
        )
        conn.execute(
            sa.text(
                "INSERT INTO model_versions (version, path, status, created_at) VALUES "
                "(:v, '/models/x', :s, '2026-11-20T00:00:00.000000Z')"
            ),
            [{"v": CHAMPION, "s": "champion"}, {"v": CHALLENGER, "s": "challenger"}],
        )
        conn.execute(
            sa.text(
                "INSERT INTO predictions (posting_id, model_version, rank, onet_code, onet_title, score, soc6_code, "
                "soc6_score, major_group, major_group_score, needs_review, backoff_level, evidence, evidence_score, "
                "run_id, partition_date, predicted_at) VALUES (:posting, :model, :rank, :code, :title, :score, :soc6, "
                ":score, :group, :score, :review, 'detailed', NULL, NULL, :run, :day, :at)"
            ),
            predictions,
        )
        conn.execute(
            sa.text(
                "INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, partition_date, "
                "rows_read, rows_predicted, rows_rejected, status, started_at, duration_s) VALUES (:run_id, :start, "
                ":end, :model, :day, :read, :predicted, :rejected, :status, :started_at, :duration)"
            ),
            RUNS,
        )
        conn.execute(
            sa.text(
                "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at) "
                "VALUES ('p6', '29-1141.00', 'qa', :t)"
            ),
            {"t": T25_LATER},
        )
    return engine


def run_query(engine, name: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text((QUERY_DIR / f"{name}.sql").read_text(encoding="utf-8"))).mappings().all()
    return [dict(r) for r in rows]


def test_counts_by_major_group_on_known_counts(known):
    """Champion top-1 only (not the challenger's, not rank 2): 3, 2 and 1 postings."""
    rows = run_query(known, "counts_by_major_group")
    assert [(r["major_group"], r["postings"]) for r in rows] == [("29", 3), ("15", 2), ("43", 1)]
    assert [float(r["percent_of_postings"]) for r in rows] == [50.0, 33.33, 16.67]
    assert [r["mean_score"] for r in rows] == pytest.approx([(0.90 + 0.70 + 0.45) / 3, 0.5, 0.3])
    assert [float(r["review_rate"]) for r in rows] == pytest.approx([1 / 3, 1.0, 0.0])


def test_predictions_per_occupation_per_day_on_known_counts(known):
    """Top-1 per day, model and occupation, day then model then busiest first."""
    rows = run_query(known, "predictions_per_occupation_per_day")
    got = [(r["partition_date"], r["model_version"], r["onet_code"], r["postings"]) for r in rows]
    assert got == [
        ("2026-11-24", CHAMPION, "29-1141.00", 2),
        ("2026-11-24", CHAMPION, "15-1252.00", 1),
        ("2026-11-25", CHAMPION, "15-1252.00", 1),
        ("2026-11-25", CHAMPION, "29-1141.00", 1),
        ("2026-11-25", CHAMPION, "43-4051.00", 1),
        ("2026-11-25", CHALLENGER, "13-1111.00", 1),
        ("2026-11-25", CHALLENGER, "15-1252.00", 1),
        ("2026-11-25", CHALLENGER, "29-1141.00", 1),
        ("2026-11-25", CHALLENGER, "29-1171.00", 1),
    ]
    assert [r["mean_score"] for r in rows] == pytest.approx([0.8, 0.4, 0.6, 0.45, 0.3, 0.5, 0.5, 0.85, 0.55])
    assert rows[0]["onet_title"] == "Registered Nurses"


def test_recent_runs_on_known_runs(known):
    """The 20 latest runs, newest first, run id breaking the tie; the counts as recorded."""
    rows = run_query(known, "recent_runs")
    assert len(rows) == 20
    head = [(r["interval_start"][:10], r["model_version"], r["status"]) for r in rows[:3]]
    assert head == [
        ("2026-11-25", CHAMPION, "success"),
        ("2026-11-25", CHALLENGER, "failed"),
        ("2026-11-24", CHAMPION, "success"),
    ]
    assert [(r["rows_read"], r["rows_predicted"], r["rows_rejected"]) for r in rows[:3]] == [
        (3, 3, 0), (None, None, None), (4, 3, 1)
    ]
    assert rows[2]["duration_s"] == pytest.approx(12.5)
    assert rows[-1]["interval_start"].startswith("2026-10-04"), "the 3 oldest runs fall past the limit"


def test_latest_top1_per_posting_on_known_predictions(known):
    """The newest run's top-1 per posting; on a tie (p4), the champion's."""
    rows = run_query(known, "latest_top1_per_posting")
    got = [(r["posting_id"], r["model_version"], r["onet_code"]) for r in rows]
    assert got == [
        ("p1", CHALLENGER, "29-1141.00"),
        ("p2", CHALLENGER, "29-1171.00"),
        ("p3", CHALLENGER, "15-1252.00"),
        ("p4", CHAMPION, "15-1252.00"),
        ("p5", CHAMPION, "43-4051.00"),
        ("p6", CHAMPION, "29-1141.00"),
    ]


def test_low_confidence_to_review_on_known_predictions(known):
    """Champion top-1 flagged or under 0.5, unlabelled (not p6), least confident first."""
    rows = run_query(known, "low_confidence_to_review")
    assert [(r["posting_id"], r["score"]) for r in rows] == [("p5", 0.30), ("p3", 0.40), ("p4", 0.60)]


def test_model_versions_disagree_on_known_predictions(known):
    rows = run_query(known, "model_versions_disagree")
    got = [(r["posting_id"], r["model_a"], r["code_a"], r["model_b"], r["code_b"], r["severity"]) for r in rows]
    assert got == [
        ("p2", CHAMPION, "29-1141.00", CHALLENGER, "29-1171.00", "same major group"),
        ("p4", CHAMPION, "15-1252.00", CHALLENGER, "13-1111.00", "different major group"),
    ]


def test_memory_vs_model_per_day_on_known_predictions(known):
    """Top-1 rows per day and model, by source: p5's champion row (auto-accepted) came from memory."""
    with known.begin() as conn:
        conn.execute(
            sa.text("UPDATE predictions SET source = 'memory' WHERE posting_id = 'p5' AND model_version = :m AND rank = 1"),
            {"m": CHAMPION},
        )
    rows = run_query(known, "memory_vs_model_per_day")
    got = [
        (r["partition_date"], r["model_version"], r["postings"], r["from_memory"], r["from_model"],
         r["memory_auto_accepted"], r["model_auto_accepted"], float(r["auto_accepted_share"]))
        for r in rows
    ]
    assert got == [
        ("2026-11-24", CHAMPION, 3, 0, 3, 0, 2, 0.6667),
        ("2026-11-25", CHAMPION, 3, 1, 2, 1, 0, 0.3333),
        ("2026-11-25", CHALLENGER, 4, 0, 4, 0, 4, 1.0),
    ]


def test_every_query_has_a_known_answer_test():
    tested = {name.removeprefix("test_").split("_on_known")[0] for name in globals() if "_on_known_" in name}
    assert {q.stem for q in QUERIES} <= tested, "a new query needs its test on the known fixture"


@pytest.fixture
def classified(database_url, tiny_classifier, tiny_bundle_path, tmp_path):
    """20 USAJOBS postings classified by the champion and by a disagreeing challenger."""
    from jobclass.pipeline.ingest import load_postings_file
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store import registry
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    engine = make_engine(database_url)
    init_schema(engine)
    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(20), fh)]
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    load_postings_file(engine, sample, ingested_at=f"{DAY}T09:30:00Z")
    registry.register_model(engine, tiny_classifier.version, tiny_bundle_path, {"acc@1": 0.1}, None, status="champion")
    challenger = RankSwapped(tiny_classifier, "zz-challenger")
    registry.register_model(engine, challenger.version, tiny_bundle_path, {"acc@1": 0.1}, None)
    for model in (tiny_classifier, challenger):
        summary = classify_interval(engine, model, DAY, NEXT_DAY, top_k=3, out_dir=tmp_path / "out")
        assert summary.status == "success"
    with engine.begin() as conn:  # one posting already reviewed: it must leave the review queue
        conn.execute(
            sa.text(
                "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at) VALUES (:p, :c, 'qa', :t)"
            ),
            {"p": records[0]["id"], "c": "23-1011.00", "t": f"{NEXT_DAY}T10:00:00.000000Z"},
        )
    yield engine
    engine.dispose()


@pytest.mark.slow
def test_every_query_returns_rows(classified, tiny_classifier):
    assert QUERIES
    tiny_version = tiny_classifier.version
    for query in QUERIES:
        with classified.connect() as conn:
            result = conn.execute(sa.text(query.read_text(encoding="utf-8")))
            rows = result.mappings().all()
        assert rows, f"{query.name} returned no rows"
        if query.stem == "low_confidence_to_review":
            assert all(r["posting_id"] != "usajobs:451842500" for r in rows)  # labelled: not to review
        if query.stem == "model_versions_disagree":
            assert all(r["code_a"] != r["code_b"] for r in rows)
        if query.stem == "latest_top1_per_posting":
            assert len({r["posting_id"] for r in rows}) == len(rows) == 20
        if query.stem == "counts_by_major_group":  # the champion's 20 top-1 predictions, no more
            assert sum(r["postings"] for r in rows) == 20
            assert sum(float(r["percent_of_postings"]) for r in rows) == pytest.approx(100.0, abs=0.05 * len(rows))
        if query.stem == "predictions_per_occupation_per_day":  # 20 top-1 per model on one day
            per_model = pd.DataFrame(rows).groupby(["partition_date", "model_version"])["postings"].sum()
            assert per_model.to_dict() == {(DAY, "zz-challenger"): 20, (DAY, tiny_version): 20}
        if query.stem == "recent_runs":  # one run per model, each reconciled
            assert sorted(r["model_version"] for r in rows) == sorted(["zz-challenger", tiny_version])
            assert all(r["status"] == "success" and r["rows_read"] == r["rows_predicted"] + r["rows_rejected"] == 20
                       for r in rows)
