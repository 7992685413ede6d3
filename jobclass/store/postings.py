"""The SQL of postings: ``job_postings`` and ``load_rejects`` writes, the ingest lock, interval reads.

Reading files and turning records into rows is :mod:`jobclass.pipeline.ingest`; it commits each
batch through :func:`insert_postings_batch`.

The ingest cutoff is safe: each batch is stamped (``ingested_at``) inside its own insert
transaction while it holds the ingest lock, and a run's planning takes that lock exclusively
first (:func:`settle_ingest`). A batch in flight therefore commits before the interval is read,
and a later batch is stamped after the cutoff: no posting falls between two intervals.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.store.engine import INGEST_LOCK_KEY, SQLITE_BUSY_TIMEOUT_MS, TimeLike, database_now, format_ts, to_utc

log = logging.getLogger(__name__)

POSTING_COLUMNS = ["posting_id", "title", "body", "source", "posted_at", "ingested_at"]
# Planning waits for the database clock to pass the cutoff (clock skew) at most this long.
MAX_CUTOFF_WAIT_S = 60.0

_INSERT = sa.text(
    "INSERT INTO job_postings (id, title, body, source, posted_at, ingested_at, extras) "
    "VALUES (:id, :title, :body, :source, :posted_at, :ingested_at, :extras) "
    "ON CONFLICT (id) DO NOTHING"
)
_EXISTING = sa.text("SELECT id FROM job_postings WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
_INSERT_REJECT = sa.text(
    "INSERT INTO load_rejects (loaded_at, file, line, reason_code, detail, raw) "
    "VALUES (:loaded_at, :file, :line, :reason_code, :detail, :raw)"
)
_SHARED_INGEST_LOCK = sa.text("SELECT pg_advisory_xact_lock_shared(:key)")
_EXCLUSIVE_INGEST_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_TRY_EXCLUSIVE_INGEST_LOCK = sa.text("SELECT pg_try_advisory_xact_lock(:key)")


# -- loading ----------------------------------------------------------------------------------
def _lock_ingest(conn: Connection, *, exclusive: bool) -> None:
    """The first statement of a transaction: take the ingest lock until it ends.

    PostgreSQL: advisory lock INGEST_LOCK_KEY, shared by loads (they do not wait for each other),
    exclusive for :func:`settle_ingest`. SQLite: ``BEGIN IMMEDIATE``, its one write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_EXCLUSIVE_INGEST_LOCK if exclusive else _SHARED_INGEST_LOCK, {"key": INGEST_LOCK_KEY})
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _try_exclusive_ingest_lock(conn: Connection) -> bool:
    """The first statement of a transaction: take the ingest lock exclusively if no batch holds it;
    False (and no lock) when one does. SQLite: ``BEGIN IMMEDIATE`` without its busy timeout."""
    if conn.dialect.name == "postgresql":
        return bool(conn.execute(_TRY_EXCLUSIVE_INGEST_LOCK, {"key": INGEST_LOCK_KEY}).scalar_one())
    conn.exec_driver_sql("PRAGMA busy_timeout = 0")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except sa.exc.OperationalError:  # "database is locked": a batch is being written
        return False
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    return True


def waiting_for_loads() -> None:
    """Called when planning finds postings batches in flight, just before it waits for them to commit.

    Does nothing: a seam, so that a test holding a batch open can let it commit at exactly this point
    (the plan is past its last chance to read without that batch), without sleeping.
    """


def insert_postings_batch(
    engine: Engine,
    rows: list[dict[str, Any]],
    rejects: list[dict[str, Any]],
    *,
    stamp: str | None,
    origin: str,
    loaded_at: str,
) -> int:
    """Insert the rows whose id is new and record the rejects, in one transaction; returns how many were new.

    ``rows`` are ``job_postings`` rows (``id``, ``title``, ``body``, ``source``, ``posted_at``,
    ``extras``); ``rejects`` are ``{"line", "reason_code", "detail", "raw"}``, recorded in
    ``load_rejects`` under ``origin`` and ``loaded_at``. Without an explicit ``stamp`` the rows
    are stamped here, under the ingest lock, with the database clock: the stamp is never older
    than a cutoff that was planned before this commit.
    """
    with engine.begin() as conn:
        _lock_ingest(conn, exclusive=False)
        ingested_at = stamp or format_ts(database_now(conn))
        new: list[dict[str, Any]] = []
        if rows:
            existing = {r[0] for r in conn.execute(_EXISTING, {"ids": [row["id"] for row in rows]})}
            new = [{**row, "ingested_at": ingested_at} for row in rows if row["id"] not in existing]
        if new:
            conn.execute(_INSERT, new)
        if rejects:
            conn.execute(
                _INSERT_REJECT,
                [
                    {
                        "loaded_at": loaded_at,
                        "file": origin,
                        "line": r["line"],
                        "reason_code": r["reason_code"],
                        "detail": r["detail"],
                        "raw": r.get("raw"),
                    }
                    for r in rejects
                ],
            )
    return len(new)


def settle_ingest(engine: Engine, cutoff: TimeLike) -> None:
    """Return once no postings batch stamped before ``cutoff`` can still commit: call before
    reading an interval that ends at ``cutoff``.

    Taking the ingest lock exclusively waits for the batches in flight (they commit holding it; the
    log says when it has to wait, and :func:`waiting_for_loads` is called); every later batch is
    stamped at or after the database clock's time now. While that clock has not reached ``cutoff``
    (clock skew, an interval ending in a few seconds) this waits, up to MAX_CUTOFF_WAIT_S; an
    interval that ends later than that is still open, and postings ingested into it after this call
    are read only when it is run again (a warning says so).
    """
    end = to_utc(cutoff)
    while True:
        with engine.begin() as conn:
            if not _try_exclusive_ingest_lock(conn):
                log.info("planning waits for the ingest lock: postings batches in flight commit first")
                waiting_for_loads()
                _lock_ingest(conn, exclusive=True)
            now = database_now(conn)
        ahead = (end - now).total_seconds()
        if ahead <= 0:
            return
        if ahead > MAX_CUTOFF_WAIT_S:
            log.warning(
                "the interval ends at %s, %.0f s from now: postings ingested after now are not in this run; "
                "run the interval again once it has ended to classify them",
                format_ts(end),
                ahead,
            )
            return
        time.sleep(ahead)


# -- reading an interval ----------------------------------------------------------------------
_SELECT = "SELECT id AS posting_id, title, body, source, posted_at, ingested_at FROM job_postings "
_IN_INTERVAL = "ingested_at >= :start AND ingested_at < :end"


def interval_params(start: TimeLike, end: TimeLike) -> dict[str, str]:
    """``{"start", "end"}`` as stored text; raises ValueError for an empty interval."""
    params = {"start": format_ts(start), "end": format_ts(end)}
    if params["start"] >= params["end"]:
        raise ValueError(f"empty interval: start {params['start']} is not before end {params['end']}.")
    return params


def _frame(rows: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=POSTING_COLUMNS, dtype=object)


def chunk_starts(engine: Engine, start: TimeLike, end: TimeLike, chunk_size: int) -> tuple[list[str], int]:
    """The first id of every ``chunk_size`` postings of the interval (in id order), and the total.

    One query; the database numbers the rows, only the boundaries come back.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    query = sa.text(
        "SELECT id, total FROM ("
        " SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn, COUNT(*) OVER () AS total"
        f" FROM job_postings WHERE {_IN_INTERVAL}"
        ") numbered WHERE (rn - 1) % :size = 0 ORDER BY id"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {**interval_params(start, end), "size": chunk_size}).fetchall()
    return [r[0] for r in rows], int(rows[0][1]) if rows else 0


def read_posting_range(
    engine: Engine, start: TimeLike, end: TimeLike, id_from: str | None, id_to: str | None
) -> pd.DataFrame:
    """Postings of the interval with ``id_from <= id < id_to`` (``None``: unbounded), in id order."""
    conditions, params = [_IN_INTERVAL], dict(interval_params(start, end))
    if id_from is not None:
        conditions.append("id >= :id_from")
        params["id_from"] = id_from
    if id_to is not None:
        conditions.append("id < :id_to")
        params["id_to"] = id_to
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY id"), params).fetchall()
    return _frame(rows)
