"""Predictions out: date-partitioned Parquet (atomic, fixed schema) and SQL rows (idempotent replace).

A run's output is a pure function of its input: rows are sorted, timestamps come from the
interval, and nothing volatile (wall-clock time, pandas version) goes into the files, so
writing the same chunk twice gives the same bytes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.model.classifier import PREDICTION_COLUMNS
from jobclass.pipeline.validation import REJECT_COLUMNS
from jobclass.store.db import WRITE_LOCK_KEY, format_ts, to_utc

# Set by the pipeline, not the model: the input was cut at the length limit (jobclass.pipeline.validation).
INPUT_COLUMNS = ["truncated"]
RUN_COLUMNS = ["model_version", "run_id", "partition_date", "predicted_at"]
PREDICTION_TABLE_COLUMNS = [*PREDICTION_COLUMNS, *RUN_COLUMNS, *INPUT_COLUMNS]
SQL_BATCH_ROWS = 5_000

PARQUET_SCHEMA = pa.schema(
    [
        pa.field("posting_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("onet_code", pa.string(), nullable=False),
        pa.field("onet_title", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("soc6_code", pa.string(), nullable=False),
        pa.field("soc6_score", pa.float64(), nullable=False),
        pa.field("major_group", pa.string(), nullable=False),
        pa.field("major_group_score", pa.float64(), nullable=False),
        pa.field("needs_review", pa.bool_(), nullable=False),
        pa.field("backoff_level", pa.string(), nullable=False),
        pa.field("evidence", pa.string()),
        pa.field("evidence_score", pa.float64()),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("partition_date", pa.date32(), nullable=False),
        pa.field("predicted_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
    ]
)
assert PARQUET_SCHEMA.names == PREDICTION_TABLE_COLUMNS, "the Parquet schema must follow the model's columns"


def partition_day(value: date | datetime | str) -> str:
    """``YYYY-MM-DD`` (UTC) for a date, a datetime or an ISO string."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value).isoformat()
    return to_utc(value).date().isoformat()


def stamp_predictions(
    predictions: pd.DataFrame,
    *,
    model_version: str,
    run_id: str,
    partition_date: date | str,
    predicted_at: datetime | str,
) -> pd.DataFrame:
    """The model's frame plus the run columns, in table column order, sorted by (posting, rank).

    ``truncated`` is kept when the frame has it (:func:`jobclass.pipeline.interval.classify_frame`), else False.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"the classifier's output lacks columns {missing}; expected {PREDICTION_COLUMNS}.")
    frame = predictions[PREDICTION_COLUMNS].copy()
    frame["posting_id"] = frame["posting_id"].astype(str)
    frame["rank"] = frame["rank"].astype("int64")
    frame["needs_review"] = frame["needs_review"].astype(bool)
    frame["model_version"] = model_version
    frame["run_id"] = run_id
    frame["partition_date"] = partition_day(partition_date)
    frame["predicted_at"] = format_ts(predicted_at)
    frame["truncated"] = predictions["truncated"].astype(bool) if "truncated" in predictions.columns else False
    return frame.sort_values(["posting_id", "rank"], kind="stable").reset_index(drop=True)


# -- Parquet ----------------------------------------------------------------------------------
def _arrow_table(frame: pd.DataFrame, metadata: dict[str, str] | None) -> pa.Table:
    """Column by column, so that no pandas metadata (versions, index) ends up in the file."""
    arrays = []
    for field in PARQUET_SCHEMA:
        values = frame[field.name]
        if field.name == "partition_date":
            values = [date.fromisoformat(v) for v in values]
        elif field.name == "predicted_at":
            values = [to_utc(v) for v in values]
        else:
            values = values.astype(object).where(values.notna(), None).tolist()
        arrays.append(pa.array(values, type=field.type))
    schema = PARQUET_SCHEMA.with_metadata({k.encode(): v.encode() for k, v in sorted((metadata or {}).items())})
    return pa.Table.from_arrays(arrays, schema=schema)


def partition_dir(out_dir: str | Path, partition_date: date | str) -> Path:
    return Path(out_dir) / f"dt={partition_day(partition_date)}"


def write_parquet_partition(
    frame: pd.DataFrame,
    out_dir: str | Path,
    partition_date: date | str,
    part_name: str,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``<out_dir>/dt=YYYY-MM-DD/<part_name>.parquet`` atomically: a hidden temporary file
    in the same directory, flushed, then renamed over the target. ``frame`` has the table columns
    (see :func:`stamp_predictions`); ``metadata`` goes into the file's key-value metadata."""
    directory = partition_dir(out_dir, partition_date)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{part_name}.parquet"
    tmp = directory / f".{part_name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with tmp.open("wb") as fh:
            pq.write_table(_arrow_table(frame, metadata), fh, compression="zstd")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_parquet_metadata(path: str | Path) -> dict[str, str]:
    """The key-value metadata written by :func:`write_parquet_partition`."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items()}


# -- SQL --------------------------------------------------------------------------------------
def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Plain Python values (NaN -> None) for the DB driver."""
    subset = frame[list(columns)].astype(object)
    return subset.where(subset.notna(), None).to_dict("records")


def _in_batches(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [records[i : i + SQL_BATCH_ROWS] for i in range(0, len(records), SQL_BATCH_ROWS)]


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


def lock_prediction_writes(conn: Connection) -> None:
    """Serialise prediction/reject writes on PostgreSQL (a transaction-scoped advisory lock).

    Two transactions replacing the same postings (two overlapping runs, or a task and its retry)
    would otherwise both delete nothing, both insert, and the second would fail on the primary
    key. Taken first in the transaction, so no lock-order deadlock. SQLite serialises writers
    by itself (the DELETE takes the write lock; others wait out the busy timeout).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})


def replace_predictions(
    conn: Connection, predictions: pd.DataFrame, run_id: str, model_version: str, posting_ids: Sequence[str]
) -> int:
    """Within the caller's transaction: drop the prediction rows of these postings for this run
    (and for this model version: an overlapping interval re-predicts them), then insert."""
    ids = sorted({str(i) for i in posting_ids} | set(predictions["posting_id"].astype(str)))
    for i in range(0, len(ids), SQL_BATCH_ROWS):
        conn.execute(
            _DELETE_PREDICTIONS, {"run_id": run_id, "model_version": model_version, "ids": ids[i : i + SQL_BATCH_ROWS]}
        )
    records = _records(predictions, PREDICTION_TABLE_COLUMNS)
    for batch in _in_batches(records):
        conn.execute(_INSERT_PREDICTION, batch)
    return len(records)


def replace_rejects(conn: Connection, rejects: pd.DataFrame, run_id: str, posting_ids: Sequence[str]) -> int:
    """Within the caller's transaction: drop this run's reject rows of these postings, then insert."""
    ids = sorted({str(i) for i in posting_ids} | set(rejects["posting_id"].astype(str)))
    for i in range(0, len(ids), SQL_BATCH_ROWS):
        conn.execute(_DELETE_REJECTS, {"run_id": run_id, "ids": ids[i : i + SQL_BATCH_ROWS]})
    frame = rejects[REJECT_COLUMNS].assign(run_id=run_id).sort_values("posting_id", kind="stable")
    records = _records(frame, ["posting_id", "run_id", "reason_code", "detail"])
    for batch in _in_batches(records):
        conn.execute(_INSERT_REJECT, batch)
    return len(records)


def write_predictions_sql(
    engine: Engine, frame: pd.DataFrame, run_id: str, posting_ids: Sequence[str] | None = None
) -> int:
    """Replace this run's prediction rows for the frame's postings (and ``posting_ids``), in one
    transaction. ``frame`` is stamped (:func:`stamp_predictions`) and holds one model version."""
    versions = frame["model_version"].unique().tolist() if len(frame) else []
    if len(versions) > 1:
        raise ValueError(f"one model version per write, got {versions}.")
    model_version = versions[0] if versions else ""
    with engine.begin() as conn:
        lock_prediction_writes(conn)
        return replace_predictions(conn, frame, run_id, model_version, posting_ids or [])


def write_rejects_sql(
    engine: Engine, frame: pd.DataFrame, run_id: str, posting_ids: Sequence[str] | None = None
) -> int:
    """Replace this run's reject rows for the frame's postings (and ``posting_ids``), in one transaction."""
    with engine.begin() as conn:
        lock_prediction_writes(conn)
        return replace_rejects(conn, frame, run_id, posting_ids or [])


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
