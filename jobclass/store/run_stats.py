"""The SQL of a nightly run's report: what it read, predicted and rejected, its scores and codes, and
the same figures over the trailing nights (the baseline that drift is measured against).

Read-only. Every value travels as a bind parameter. Everything is aggregated in SQL (counts per
score bin, per major group, per occupation): a report reads a few dozen rows whatever the size of
its 28 nights. The report itself (shares, drift, charts) is :mod:`jobclass.pipeline.run_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.store.engine import format_ts, to_utc

#: Nights before a run that make its baseline.
TRAILING_NIGHTS = 28
#: Occupations listed in a report.
TOP_OCCUPATIONS = 10
#: Score bins (their edges) when the caller names none: [0, 0.1), ..., [0.9, 1.0], as the report's.
SCORE_EDGES: tuple[float, ...] = tuple(i / 10 for i in range(11))


def _expanding(statement: str, *names: str) -> sa.TextClause:
    return sa.text(statement).bindparams(*(sa.bindparam(n, expanding=True) for n in names))


_GET_RUN = sa.text("SELECT * FROM prediction_runs WHERE run_id = :run_id")
_RUNS_OF_INTERVAL = sa.text(
    "SELECT * FROM prediction_runs WHERE interval_start = :start AND interval_end = :end "
    "ORDER BY started_at DESC, run_id DESC"
)
_BASELINE_RUNS = sa.text(
    "SELECT run_id, interval_start, interval_end, started_at, finished_at FROM prediction_runs "
    "WHERE status = 'success' AND interval_end <= :until AND interval_start >= :since "
    "ORDER BY interval_start, interval_end, started_at DESC, run_id DESC"
)
_REJECT_REASONS = sa.text(
    "SELECT reason_code, COUNT(*) AS n FROM rejected_postings WHERE run_id = :run_id "
    "GROUP BY reason_code ORDER BY n DESC, reason_code"
)
_MAJOR_GROUPS = _expanding(
    "SELECT major_group, COUNT(*) AS n FROM predictions WHERE rank = 1 AND run_id IN :run_ids GROUP BY major_group",
    "run_ids",
)
_TOP_OCCUPATIONS = _expanding(
    "SELECT onet_code, MIN(onet_title) AS onet_title, COUNT(*) AS n FROM predictions "
    "WHERE rank = 1 AND run_id IN :run_ids GROUP BY onet_code ORDER BY n DESC, onet_code LIMIT :limit",
    "run_ids",
)
_OCCUPATION_COUNTS = _expanding(
    "SELECT onet_code, COUNT(*) AS n FROM predictions "
    "WHERE rank = 1 AND run_id IN :run_ids AND onet_code IN :codes GROUP BY onet_code",
    "run_ids",
    "codes",
)


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """The ``prediction_runs`` row of ``run_id``, or None."""
    with engine.connect() as conn:
        row = conn.execute(_GET_RUN, {"run_id": run_id}).mappings().first()
    return dict(row) if row is not None else None


def latest_run_of_interval(engine: Engine, start: Any, end: Any) -> dict[str, Any] | None:
    """The newest run of exactly ``[start, end)`` (any model, any status), or None."""
    with engine.connect() as conn:
        params = {"start": format_ts(start), "end": format_ts(end)}
        row = conn.execute(_RUNS_OF_INTERVAL, params).mappings().first()
    return dict(row) if row is not None else None


def _baseline_runs(conn: Connection, run: dict[str, Any], nights: int) -> list[dict[str, Any]]:
    until = to_utc(run["interval_start"])
    params = {"until": format_ts(until), "since": format_ts(until - timedelta(days=nights))}
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(_BASELINE_RUNS, params).mappings():
        newest.setdefault((row["interval_start"], row["interval_end"]), dict(row))
    return [r for r in newest.values() if r["run_id"] != run["run_id"]]


def baseline_run_ids(conn: Connection, run: dict[str, Any], nights: int = TRAILING_NIGHTS) -> list[str]:
    """Successful runs whose interval lies within the ``nights`` before ``run``'s interval; of several
    runs of one interval (a re-run with another model), the newest."""
    return [r["run_id"] for r in _baseline_runs(conn, run, nights)]


def report_inputs(engine: Engine, run_id: str, nights: int = TRAILING_NIGHTS) -> tuple[dict[str, Any], tuple] | None:
    """``(run, key)``: the run's ``prediction_runs`` row, and a hashable key of what its report is
    computed from (that row, and the id, start and end of each run of its baseline); None when there
    is no such run. Two rows of ``prediction_runs``, no predictions: cheap enough for every request.

    The key changes when the report can: the run is re-run (its row is started again), finishes,
    or a run of its baseline is added, re-run or replaced by a newer one."""
    with engine.connect() as conn:
        row = conn.execute(_GET_RUN, {"run_id": run_id}).mappings().first()
        if row is None:
            return None
        run = dict(row)
        baseline = _baseline_runs(conn, run, nights)
    stamps = tuple((b["run_id"], b["started_at"], b["finished_at"]) for b in baseline)
    return run, (tuple(sorted(run.items())), nights, stamps)


@cache
def _top1_by_score_bin(bins: int) -> sa.TextClause:
    """Top-1 rows and their needs_review per score bin: bin ``i`` holds ``edge_i <= score < edge_i+1``;
    a score under ``edge_1`` is in bin 0 and one at or over the last inner edge in the last bin (the
    outer edges clip, as :func:`jobclass.evaluation.drift.score_histogram` does)."""
    cases = " ".join(f"WHEN score >= :edge_{i} THEN {i}" for i in range(bins - 1, 0, -1))
    score_bin = f"CASE {cases} ELSE 0 END" if bins > 1 else "0"
    return _expanding(
        f"SELECT {score_bin} AS score_bin, COUNT(*) AS n, SUM(CASE WHEN needs_review THEN 1 ELSE 0 END) AS review "
        "FROM predictions WHERE rank = 1 AND run_id IN :run_ids GROUP BY score_bin",
        "run_ids",
    )


def _counts(conn: Connection, statement: sa.TextClause, params: dict[str, Any]) -> dict[str, int]:
    return {str(key): int(n) for key, n in conn.execute(statement, params).all()}


def _figures(conn: Connection, run_ids: list[str], score_edges: Sequence[float]) -> dict[str, Any]:
    """Top-1 figures over ``run_ids``: predicted, needs_review, counts per score bin (``score_bins``,
    one per bin of ``score_edges``, in order) and per major group."""
    bins = len(score_edges) - 1
    if bins < 1:
        raise ValueError(f"score bins need at least two edges, got {list(score_edges)}")
    figures: dict[str, Any] = {"predicted": 0, "needs_review": 0, "score_bins": [0] * bins, "major_groups": {}}
    if not run_ids:
        return figures
    params: dict[str, Any] = {"run_ids": run_ids, **{f"edge_{i}": float(score_edges[i]) for i in range(1, bins)}}
    for score_bin, n, review in conn.execute(_top1_by_score_bin(bins), params):
        figures["score_bins"][int(score_bin)] += int(n)
        figures["predicted"] += int(n)
        figures["needs_review"] += int(review or 0)
    figures["major_groups"] = _counts(conn, _MAJOR_GROUPS, {"run_ids": run_ids})
    return figures


def _top_occupations(conn: Connection, run_id: str, baseline: list[str], limit: int) -> list[dict[str, Any]]:
    rows = [dict(r) for r in conn.execute(_TOP_OCCUPATIONS, {"run_ids": [run_id], "limit": limit}).mappings()]
    codes = [r["onet_code"] for r in rows]
    before = _counts(conn, _OCCUPATION_COUNTS, {"run_ids": baseline, "codes": codes}) if baseline and codes else {}
    return [{**r, "n": int(r["n"]), "baseline_n": before.get(r["onet_code"], 0)} for r in rows]


def run_statistics(
    engine: Engine,
    run_id: str,
    *,
    nights: int = TRAILING_NIGHTS,
    top: int = TOP_OCCUPATIONS,
    score_edges: Sequence[float] = SCORE_EDGES,
) -> dict[str, Any] | None:
    """Everything a run's report shows, as plain values; None when there is no such run.

    ``run`` (its ``prediction_runs`` row), ``rejected`` (``[{reason_code, n}]``), ``current`` and
    ``baseline`` (:func:`_figures` of this run and of its trailing ``nights``: ``predicted``,
    ``needs_review``, ``score_bins`` over ``score_edges`` and ``major_groups``), ``baseline_runs``
    (how many runs the baseline holds) and ``top_occupations`` (``[{onet_code, onet_title, n,
    baseline_n}]``, this run's ``top`` codes with their count over the baseline).
    """
    with engine.connect() as conn:
        row = conn.execute(_GET_RUN, {"run_id": run_id}).mappings().first()
        if row is None:
            return None
        run = dict(row)
        baseline = baseline_run_ids(conn, run, nights)
        rejected = [{"reason_code": str(c), "n": int(n)} for c, n in conn.execute(_REJECT_REASONS, {"run_id": run_id})]
        return {
            "run": run,
            "rejected": rejected,
            "current": _figures(conn, [run_id], score_edges),
            "baseline": _figures(conn, baseline, score_edges),
            "baseline_runs": len(baseline),
            "top_occupations": _top_occupations(conn, run_id, baseline, top),
            "nights": nights,
        }
