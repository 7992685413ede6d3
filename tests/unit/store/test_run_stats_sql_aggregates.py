"""The run report's figures are aggregated in SQL (jobclass.store.run_stats): on a known dataset they
equal what the report computed before in Python from every top-1 score of the run and of its 28
nights, on SQLite and, when reachable, PostgreSQL."""

from __future__ import annotations

import math

import sqlalchemy as sa
from run_report_fixtures import night_run

from jobclass.evaluation.drift import SCORE_EDGES, score_histogram
from jobclass.store import run_stats

# Scores on and beside every bin edge (0.1 + 0.2 is just over 0.3, nextafter just under), both ends
# of the range, and out-of-range ones that the histogram clips into the first and last bins.
EDGE_SCORES = [
    0.0, 0.05, 0.1, math.nextafter(0.1, 0.0), 0.1 + 0.2, 0.3, math.nextafter(0.3, 0.0), 0.7, 0.7000000000000001,
    0.9, math.nextafter(0.9, 0.0), 0.95, 0.99999, 1.0, 0.5, 0.49999999999999994, -0.01, 1.25,
]  # fmt: skip
CODES = ["15-1252.00", "29-1141.00", "35-2014.00", "13-2011.00"]


def _rows(night: int, scores: list[float]) -> list[tuple[str, str, float, bool]]:
    return [(f"n{night}-{i}", CODES[(i + night) % len(CODES)], s, (i + night) % 3 == 0) for i, s in enumerate(scores)]


def _seed(engine) -> str:
    """Six nights before the run (each a rotation of the edge scores, with a failed run of one night
    that must not count) and the run itself."""
    for night in range(-6, 0):
        scores = EDGE_SCORES[night % len(EDGE_SCORES) :] + EDGE_SCORES[: night % len(EDGE_SCORES)]
        night_run(engine, night, _rows(night, scores[: 10 + night]))
    night_run(engine, -3, _rows(-30, [0.99, 0.98]), version="m0", status="failed", later_s=60)
    return night_run(engine, 0, _rows(0, EDGE_SCORES + [0.15, 0.25, 0.25, 0.35]))


def _previous_python_figures(engine, run_ids: list[str]) -> dict:
    """What run_stats returned before (every top-1 score), and the histogram computed from it in Python."""
    select = sa.text("SELECT score, needs_review FROM predictions WHERE rank = 1 AND run_id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    with engine.connect() as conn:
        rows = conn.execute(select, {"ids": run_ids}).all() if run_ids else []
    scores = [float(score) for score, _ in rows]
    return {
        "predicted": len(rows),
        "needs_review": sum(1 for _, review in rows if review),
        "score_bins": list(score_histogram(scores, SCORE_EDGES).values()),
    }


def test_the_sql_aggregates_equal_the_python_computation(engine):
    run_id = _seed(engine)
    stats = run_stats.run_statistics(engine, run_id, score_edges=SCORE_EDGES)
    with engine.connect() as conn:
        baseline_ids = run_stats.baseline_run_ids(conn, stats["run"])
    assert stats["baseline_runs"] == len(baseline_ids) == 6

    for figures, ids in ((stats["current"], [run_id]), (stats["baseline"], baseline_ids)):
        expected = _previous_python_figures(engine, ids)
        assert {k: figures[k] for k in expected} == expected
        assert "scores" not in figures  # no list of every score travels to Python any more
    assert stats["current"]["score_bins"] == [4, 2, 3, 3, 1, 1, 0, 2, 1, 5]  # by hand, as a check of the check
    assert sum(stats["baseline"]["score_bins"]) == stats["baseline"]["predicted"] == sum(range(4, 10))


def test_the_report_histograms_are_the_python_histograms(engine):
    from jobclass.pipeline.run_report import build_run_report

    run_id = _seed(engine)
    report = build_run_report(engine, run_id)
    with engine.connect() as conn:
        baseline_ids = run_stats.baseline_run_ids(conn, report["run"])
    for side, ids in (("current", [run_id]), ("baseline", baseline_ids)):
        select = sa.text("SELECT score FROM predictions WHERE rank = 1 AND run_id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        )
        with engine.connect() as conn:
            scores = [float(s) for s in conn.execute(select, {"ids": ids}).scalars()]
        assert report["score_histogram"][side] == score_histogram(scores)


def test_other_bins_and_no_rows(engine):
    run_id = night_run(engine, 0, [("a", "15-1252.00", 0.5, False), ("b", "15-1252.00", 0.25, True)])
    halves = run_stats.run_statistics(engine, run_id, score_edges=(0.0, 0.5, 1.0))
    assert halves["current"]["score_bins"] == [1, 1] and halves["baseline"]["score_bins"] == [0, 0]
    one = run_stats.run_statistics(engine, run_id, score_edges=(0.0, 1.0))
    assert one["current"]["score_bins"] == [2] and one["current"]["needs_review"] == 1
