"""Predictions out as date-partitioned Parquet: atomic, fixed schema, reproducible bytes.

The SQL rows of the same predictions are :mod:`jobclass.store.predictions`.

A run's output is a pure function of its input: rows are sorted, timestamps come from the
interval, and nothing volatile (wall-clock time, pandas version) goes into the files, so
writing the same chunk twice gives the same bytes.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobclass.memory.apply import MEMORY_COLUMNS, model_only
from jobclass.model.classifier import PREDICTION_COLUMNS
from jobclass.store.engine import format_ts, to_utc
from jobclass.store.predictions import PREDICTION_TABLE_COLUMNS

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
        pa.field("source", pa.string(), nullable=False),
        pa.field("model_rank", pa.int32()),
        pa.field("memory_key", pa.string()),
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

    ``truncated`` is kept when the frame has it (:func:`jobclass.pipeline.interval.classify_frame`), else False;
    so are the memory's columns (``source``, ``model_rank``, ``memory_key``), else the model's.
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
    # Where each code came from (jobclass.memory.apply); a frame straight from the model: the model.
    memory = predictions if "source" in predictions.columns else model_only(predictions)
    for column in MEMORY_COLUMNS:
        frame[column] = memory[column].to_numpy()
    frame["model_rank"] = frame["model_rank"].astype("Int64")
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
