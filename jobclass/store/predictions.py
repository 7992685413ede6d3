"""The SQL of a run's output: ``predictions`` and ``rejected_postings`` rows, replaced idempotently.

A chunk's rows are replaced, never appended, in one transaction that holds the write lock, so a
retried or repeated chunk leaves exactly one copy of its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.columns import MEMORY_COLUMNS, PREDICTION_COLUMNS
from jobclass.store.engine import WRITE_LOCK_KEY

# Set by the pipeline, not the model: the input was cut at the length limit (jobclass.pipeline.validation).
INPUT_COLUMNS = ["truncated"]
RUN_COLUMNS = ["model_version", "run_id", "partition_date", "predicted_at"]
#: The columns of ``predictions`` (and of the Parquet parts), in order.
# Set by the memory (jobclass.memory.apply): where the code came from, the model's own rank, the key.
PREDICTION_TABLE_COLUMNS = [*PREDICTION_COLUMNS, *RUN_COLUMNS, *INPUT_COLUMNS, *MEMORY_COLUMNS]
REJECT_TABLE_COLUMNS = ["posting_id", "run_id", "reason_code", "detail"]
SQL_BATCH_ROWS = 5_000

_INSERT_PREDICTION = sa.text(
    f"INSERT INTO predictions ({', '.join(PREDICTION_TABLE_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in PREDICTION_TABLE_COLUMNS)})"
)
_INSERT_REJECT = sa.text(
    "INSERT INTO rejected_postings (posting_id, run_id, reason_code, detail) "
    "VALUES (:posting_id, :run_id, :reason_code, :detail)"
)
_DELETE_PREDICTIONS = sa.text(
    "DELETE FROM predictions WHERE (run_id = :run_id OR model_version = :model_version) AND posting_id IN :ids"
).bindparams(sa.bindparam("ids", expanding=True))
_DELETE_REJECTS = sa.text("DELETE FROM rejected_postings WHERE run_id = :run_id AND posting_id IN :ids").bindparams(
    sa.bindparam("ids", expanding=True)
)
_WRITE_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Plain Python values (NaN -> None) for the DB driver."""
    subset = frame[list(columns)].astype(object)
    return subset.where(subset.notna(), None).to_dict("records")


def _in_batches(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [records[i : i + SQL_BATCH_ROWS] for i in range(0, len(records), SQL_BATCH_ROWS)]


def lock_prediction_writes(conn: Connection) -> None:
    """Serialise prediction/reject writes on PostgreSQL (a transaction-scoped advisory lock).

    Two transactions replacing the same postings (two overlapping runs, or a task and its retry)
    would otherwise both delete nothing, both insert, and the second would fail on the primary
    key. Taken first in the transaction, so no lock-order deadlock. SQLite serialises writers
    by itself (the delete takes the write lock; others wait out the busy timeout).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_WRITE_LOCK, {"key": WRITE_LOCK_KEY})


def replace_predictions(
    conn: Connection, predictions: pd.DataFrame, run_id: str, model_version: str, posting_ids: Sequence[str]
) -> int:
    """Within the caller's transaction: drop the prediction rows of these postings for this run
    (and for this model version: an overlapping interval re-predicts them), then insert.
    ``predictions`` has the table's columns (:data:`PREDICTION_TABLE_COLUMNS`)."""
    ids = sorted({str(i) for i in posting_ids} | set(predictions["posting_id"].astype(str)))
    for i in range(0, len(ids), SQL_BATCH_ROWS):
        conn.execute(
            _DELETE_PREDICTIONS, {"run_id": run_id, "model_version": model_version, "ids": ids[i : i + SQL_BATCH_ROWS]}
        )
    records = _records(with_memory_defaults(predictions), PREDICTION_TABLE_COLUMNS)
    for batch in _in_batches(records):
        conn.execute(_INSERT_PREDICTION, batch)
    return len(records)


def with_memory_defaults(predictions: pd.DataFrame) -> pd.DataFrame:
    """Rows written without the memory's columns (or with them empty) are the model's own."""
    frame = predictions.copy()
    if "source" not in frame.columns:
        frame["source"] = None
    frame["source"] = frame["source"].where(frame["source"].notna(), "model")
    if "model_rank" not in frame.columns:
        frame["model_rank"] = None
    model_rows = frame["model_rank"].isna() & (frame["source"] == "model")
    frame["model_rank"] = frame["model_rank"].astype(object).where(~model_rows, frame["rank"])
    if "memory_key" not in frame.columns:
        frame["memory_key"] = None
    return frame


def replace_rejects(conn: Connection, rejects: pd.DataFrame, run_id: str, posting_ids: Sequence[str]) -> int:
    """Within the caller's transaction: drop this run's reject rows of these postings, then insert.
    ``rejects`` has ``posting_id``, ``reason_code`` and ``detail``."""
    ids = sorted({str(i) for i in posting_ids} | set(rejects["posting_id"].astype(str)))
    for i in range(0, len(ids), SQL_BATCH_ROWS):
        conn.execute(_DELETE_REJECTS, {"run_id": run_id, "ids": ids[i : i + SQL_BATCH_ROWS]})
    frame = rejects.assign(run_id=run_id).sort_values("posting_id", kind="stable")
    records = _records(frame, REJECT_TABLE_COLUMNS)
    for batch in _in_batches(records):
        conn.execute(_INSERT_REJECT, batch)
    return len(records)


def write_chunk_sql(
    engine: Engine,
    predictions: pd.DataFrame,
    rejects: pd.DataFrame,
    *,
    run_id: str,
    model_version: str,
    posting_ids: Sequence[str],
) -> tuple[int, int]:
    """A chunk's predictions and rejects, replaced together in ONE transaction: a posting read
    in the chunk ends up either predicted or rejected, never both, never neither."""
    with engine.begin() as conn:
        lock_prediction_writes(conn)
        written = replace_predictions(conn, predictions, run_id, model_version, posting_ids)
        rejected = replace_rejects(conn, rejects, run_id, posting_ids)
    return written, rejected
