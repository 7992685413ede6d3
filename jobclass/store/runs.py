"""The SQL of ``prediction_runs``: a run's row, its reconciliation counts, and what the runs say.

The run's logic (its id, when it succeeded, what to clean up) is :mod:`jobclass.pipeline.interval`;
here are the statements it runs. Callers wrap them in :func:`jobclass.store.engine.with_db_retry`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobclass.store.engine import TimeLike, format_ts, with_db_retry

_UPSERT_RUN = sa.text(
    "INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, partition_date, chunks, "
    "status, started_at) VALUES (:run_id, :interval_start, :interval_end, :model_version, :partition_date, :chunks, "
    "'running', :started_at) "
    "ON CONFLICT (run_id) DO UPDATE SET chunks = excluded.chunks, status = 'running', "
    "started_at = excluded.started_at, finished_at = NULL, duration_s = NULL, "
    "rows_read = NULL, rows_predicted = NULL, rows_rejected = NULL, rows_skipped = NULL, detail = NULL"
)
_INSERT_UNSTARTED_RUN = sa.text(
    "INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, partition_date, chunks, "
    "status, started_at) VALUES (:run_id, :interval_start, :interval_end, :model_version, :partition_date, 0, "
    "'running', :started_at) ON CONFLICT (run_id) DO NOTHING"
)
_GET_RUN = sa.text("SELECT * FROM prediction_runs WHERE run_id = :run_id")
_RECORD_OUTCOME = sa.text(
    "UPDATE prediction_runs SET rows_read = :rows_read, rows_predicted = :rows_predicted, "
    "rows_rejected = :rows_rejected, rows_skipped = :rows_skipped, status = :status, detail = :detail, "
    "finished_at = :finished_at, duration_s = :duration_s WHERE run_id = :run_id"
)
_LAST_SUCCESS_END = sa.text(
    "SELECT MAX(interval_end) FROM prediction_runs WHERE status = 'success' AND interval_end <= :end"
)
_FIRST_INGESTED = sa.text("SELECT MIN(ingested_at) FROM job_postings WHERE ingested_at < :end")
_RUNNING_VERSIONS = sa.text("SELECT DISTINCT model_version FROM prediction_runs WHERE status = 'running'")
_LIST_RUNS = sa.text("SELECT * FROM prediction_runs ORDER BY started_at DESC, run_id LIMIT :limit OFFSET :offset")


# -- a run's row ------------------------------------------------------------------------------
def record_run_started(engine: Engine, run: dict[str, Any]) -> None:
    """Upsert the run as ``running``, replacing an earlier attempt's row (its outcome and counts cleared).

    ``run``: ``run_id``, ``interval_start``, ``interval_end``, ``model_version``, ``partition_date``,
    ``chunks``, ``started_at`` (stored text)."""
    with engine.begin() as conn:
        conn.execute(_UPSERT_RUN, run)


def record_run_if_missing(engine: Engine, run: dict[str, Any]) -> None:
    """Insert the run as ``running`` with no chunks unless it has a row already (a run that failed
    before it started). ``run`` as for :func:`record_run_started`, without ``chunks``."""
    with engine.begin() as conn:
        conn.execute(_INSERT_UNSTARTED_RUN, run)


#: A posting another run of the same model version already coded (predicted or rejected): a manual
#: run whose interval overlaps a scheduled one. ``p`` is the posting, ``:run_id`` this run.
_CODED_ELSEWHERE = (
    "(EXISTS (SELECT 1 FROM predictions o WHERE o.posting_id = p.id AND o.rank = 1"
    " AND o.model_version = :model_version AND o.run_id <> :run_id)"
    " OR EXISTS (SELECT 1 FROM rejected_postings oj JOIN prediction_runs orun ON orun.run_id = oj.run_id"
    " WHERE oj.posting_id = p.id AND orun.model_version = :model_version AND oj.run_id <> :run_id))"
)
_CODED_HERE = (
    "(EXISTS (SELECT 1 FROM predictions r WHERE r.run_id = :run_id AND r.rank = 1 AND r.posting_id = p.id)"
    " OR EXISTS (SELECT 1 FROM rejected_postings j WHERE j.run_id = :run_id AND j.posting_id = p.id))"
)


def _reconcile(conn: sa.Connection, run: dict[str, Any]) -> dict[str, int]:
    params = {
        "run_id": run["run_id"],
        "start": run["interval_start"],
        "end": run["interval_end"],
        "model_version": run["model_version"],
    }
    in_interval = "FROM job_postings p WHERE p.ingested_at >= :start AND p.ingested_at < :end"
    query = sa.text(
        f"SELECT (SELECT COUNT(*) {in_interval}), "
        "(SELECT COUNT(*) FROM predictions WHERE run_id = :run_id AND rank = 1), "
        "(SELECT COUNT(*) FROM rejected_postings WHERE run_id = :run_id), "
        f"(SELECT COUNT(*) {in_interval} AND NOT {_CODED_HERE} AND {_CODED_ELSEWHERE}), "
        f"(SELECT COUNT(*) {in_interval} AND NOT {_CODED_HERE} AND NOT {_CODED_ELSEWHERE})"
    )
    read, predicted, rejected, skipped, unaccounted = conn.execute(query, params).one()
    return {
        "rows_read": int(read),
        "rows_predicted": int(predicted),
        "rows_rejected": int(rejected),
        "rows_skipped": int(skipped),
        "unaccounted": int(unaccounted),
    }


def run_with_counts(engine: Engine, run_id: str) -> tuple[dict[str, Any] | None, dict[str, int] | None]:
    """The run's row and its counts from the database itself: postings of its interval
    (``rows_read``), postings it predicted (``rows_predicted``) and rejected (``rows_rejected``),
    postings another run of its model version had coded (``rows_skipped``), and postings of the
    interval none of these (``unaccounted``). ``(None, None)`` if no such run."""
    with engine.connect() as conn:
        row = conn.execute(_GET_RUN, {"run_id": run_id}).mappings().first()
        return (dict(row), _reconcile(conn, dict(row))) if row is not None else (None, None)


def record_run_outcome(engine: Engine, run_id: str, counts: dict[str, int], outcome: dict[str, Any]) -> None:
    """The run's counts and outcome: ``status``, ``detail``, ``finished_at``, ``duration_s``."""
    params = {
        "rows_read": counts["rows_read"],
        "rows_predicted": counts["rows_predicted"],
        "rows_rejected": counts["rows_rejected"],
        "rows_skipped": counts.get("rows_skipped", 0),
        "status": outcome["status"],
        "detail": outcome["detail"],
        "finished_at": outcome["finished_at"],
        "duration_s": outcome["duration_s"],
        "run_id": run_id,
    }
    with engine.begin() as conn:
        conn.execute(_RECORD_OUTCOME, params)


# -- a chunk of a run -------------------------------------------------------------------------
def _range_filter(chunk: dict[str, Any], column: str = "posting_id") -> tuple[str, dict[str, Any]]:
    conditions, params = [], {}
    if chunk.get("id_from") is not None:
        conditions.append(f"{column} >= :id_from")
        params["id_from"] = chunk["id_from"]
    if chunk.get("id_to") is not None:
        conditions.append(f"{column} < :id_to")
        params["id_to"] = chunk["id_to"]
    return "".join(f" AND {c}" for c in conditions), params


def chunk_counts(engine: Engine, start: TimeLike, end: TimeLike, run_id: str, chunk: dict[str, Any]) -> dict[str, int]:
    """Postings in the chunk's id range of the interval now (``rows_read``), this run's predicted
    and rejected postings in that range, and those another run of its model version had coded
    (``already_coded``)."""
    where, params = _range_filter(chunk)
    id_where, _ = _range_filter(chunk, "id")
    model_version = run_id.rsplit("/", 1)[-1]
    params = {**params, "run_id": run_id, "start": format_ts(start), "end": format_ts(end), "model_version": model_version}
    in_chunk = f"FROM job_postings p WHERE p.ingested_at >= :start AND p.ingested_at < :end{id_where}"
    with engine.connect() as conn:
        read = conn.execute(sa.text(f"SELECT COUNT(*) {in_chunk}"), params).scalar_one()
        predicted = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM predictions WHERE run_id = :run_id AND rank = 1{where}"), params
        ).scalar_one()
        rejected = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM rejected_postings WHERE run_id = :run_id{where}"), params
        ).scalar_one()
        skipped = conn.execute(
            sa.text(f"SELECT COUNT(*) {in_chunk} AND NOT {_CODED_HERE} AND {_CODED_ELSEWHERE}"), params
        ).scalar_one()
    return {"rows_read": int(read), "predicted": int(predicted), "rejected": int(rejected), "already_coded": int(skipped)}


def coded_by_other_runs(engine: Engine, run_id: str, model_version: str, posting_ids: list[str]) -> dict[str, str]:
    """Of ``posting_ids``, those another run of ``model_version`` already predicted or rejected:
    posting id -> that run's id. A posting is coded once per model version."""
    found: dict[str, str] = {}
    params = {"run_id": run_id, "model_version": model_version}
    predicted = sa.text(
        "SELECT posting_id, run_id FROM predictions WHERE rank = 1 AND model_version = :model_version "
        "AND run_id <> :run_id AND posting_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    rejected = sa.text(
        "SELECT j.posting_id, j.run_id FROM rejected_postings j JOIN prediction_runs r ON r.run_id = j.run_id "
        "WHERE r.model_version = :model_version AND j.run_id <> :run_id AND j.posting_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with engine.connect() as conn:
        for i in range(0, len(posting_ids), 900):
            ids = posting_ids[i : i + 900]
            for statement in (predicted, rejected):
                found.update({p: r for p, r in conn.execute(statement, {**params, "ids": ids})})
    return found


# -- what the runs say ------------------------------------------------------------------------
def pending_interval(engine: Engine, end: TimeLike) -> dict[str, str] | None:
    """What a run with no data interval of its own classifies: everything ingested from the end of
    the last successful run's interval up to ``end``, or, when no run succeeded yet, from the first
    posting ingested. ``{"start", "end", "basis"}`` (ISO text), or ``None`` when nothing is in it."""
    end_ts = format_ts(end)

    def _bounds() -> tuple[str | None, str | None]:
        with engine.connect() as conn:
            last = conn.execute(_LAST_SUCCESS_END, {"end": end_ts}).scalar_one_or_none()
            first = conn.execute(_FIRST_INGESTED, {"end": end_ts}).scalar_one_or_none()
        return last, first

    last_end, first_ingested = with_db_retry(engine, "pending interval", _bounds)
    if last_end is not None:
        start, basis = last_end, "since the end of the last successful run"
    elif first_ingested is not None:
        start, basis = first_ingested, "no successful run yet: from the first posting ingested"
    else:
        return None
    return {"start": start, "end": end_ts, "basis": basis} if start < end_ts else None


def running_model_versions(engine: Engine) -> set[str]:
    """Versions a running prediction run classifies with (their bundles are being read)."""
    with engine.connect() as conn:
        return set(conn.execute(_RUNNING_VERSIONS).scalars().all())


def list_runs(engine: Engine, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    """The newest ``prediction_runs`` rows, newest first, ``offset`` rows skipped (for dashboards and the API)."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(_LIST_RUNS, {"limit": limit, "offset": offset}).mappings()]
