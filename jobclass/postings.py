"""Postings in: load JSONL/CSV files into ``job_postings``; read an ingest interval in bounded chunks.

Loading is idempotent: a posting id already in the table is left untouched (its ``ingested_at``
too), so loading the same file twice adds nothing.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobclass.db import format_ts, utc_now
from jobclass.validation import decode_text, is_missing, storable_text

log = logging.getLogger(__name__)

TimeLike = datetime | date | str
POSTING_COLUMNS = ["posting_id", "title", "body", "source", "posted_at", "ingested_at"]
ID_FIELDS = ("id", "posting_id")
POSTED_FIELDS = ("posted_at", "publication_date", "date_posted")
# USAJOBS announcements have no body: it is the summary and the duties.
BODY_PART_FIELDS = ("job_summary", "major_duties")

_INSERT = sa.text(
    "INSERT INTO job_postings (id, title, body, source, posted_at, ingested_at, extras) "
    "VALUES (:id, :title, :body, :source, :posted_at, :ingested_at, :extras) "
    "ON CONFLICT (id) DO NOTHING"
)
_EXISTING = sa.text("SELECT id FROM job_postings WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True))


@dataclass(frozen=True)
class LoadStats:
    read: int
    inserted: int
    already_present: int
    duplicates_in_file: int
    without_id: int


# -- reading files ----------------------------------------------------------------------------
def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def file_format(path: str | Path) -> str:
    """``jsonl`` or ``csv`` from the file name (``.gz`` allowed)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if kind == ".csv":
        return "csv"
    raise ValueError(f"{path}: unknown postings format; use .jsonl or .csv (optionally .gz).")


def read_postings_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """Raw records, one dict per posting, streamed. Bytes that are not UTF-8 survive as
    surrogate escapes for :func:`jobclass.validation.decode_text` to repair or flag."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"postings file {path} does not exist.")
    kind = file_format(path)
    with _open_binary(path) as raw:
        if kind == "jsonl":
            for lineno, line in enumerate(raw, start=1):
                text = line.decode("utf-8", "surrogateescape").strip()
                if not text:
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg}).") from exc
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}.")
                yield record
        else:
            csv.field_size_limit(2**31 - 1)  # bodies can be far longer than csv's 128 KiB default
            reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline=""))
            yield from reader


# -- mapping a record to a row ----------------------------------------------------------------
def _pop_first(record: dict[str, Any], fields: Iterable[str]) -> Any:
    for field in fields:
        if field in record:
            value = record.pop(field)
            if not is_missing(value) and value != "":
                return value
    return None


def _join_parts(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(decode_text(v) for v in value if not is_missing(v))
    return decode_text(value)


def _body(record: dict[str, Any]) -> Any:
    if "body" in record:
        return record.pop("body")
    if any(field in record for field in BODY_PART_FIELDS):
        parts = [_join_parts(record.pop(field)) for field in BODY_PART_FIELDS if field in record]
        return "\n".join(p for p in parts if p.strip())
    return record.pop("description", None)


def _posted_at(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return format_ts(decode_text(value))
    except (TypeError, ValueError):
        return None


def posting_row(record: dict[str, Any], *, default_source: str, ingested_at: str) -> dict[str, Any] | None:
    """One ``job_postings`` row from a raw record, or ``None`` when it has no id.

    Known fields are mapped (``body`` or USAJOBS ``job_summary`` + ``major_duties``,
    ``publication_date`` -> ``posted_at``); everything else goes to ``extras`` as JSON.
    """
    record = dict(record)
    posting_id = _pop_first(record, ID_FIELDS)
    posting_id = decode_text(posting_id).strip() if posting_id is not None else ""
    if not posting_id:
        return None
    raw_posted = _pop_first(record, POSTED_FIELDS)
    posted_at = _posted_at(raw_posted)
    if raw_posted is not None and posted_at is None:
        record["posted_at_raw"] = raw_posted
    source = _pop_first(record, ("source",))
    if source is None:
        source = posting_id.split(":", 1)[0] if ":" in posting_id else default_source
    row = {
        "id": storable_text(posting_id),
        "title": storable_text(record.pop("title", None)),
        "body": storable_text(_body(record)),
        "source": storable_text(source),
        "posted_at": posted_at,
        "ingested_at": ingested_at,
        "extras": storable_text(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))
        if record
        else None,
    }
    return row


# -- loading ----------------------------------------------------------------------------------
def _insert_batch(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose id is new, in one transaction; returns how many were new."""
    with engine.begin() as conn:
        existing = {r[0] for r in conn.execute(_EXISTING, {"ids": [row["id"] for row in rows]})}
        new = [row for row in rows if row["id"] not in existing]
        if new:
            conn.execute(_INSERT, new)
    return len(new)


def load_records(
    engine: Engine,
    records: Iterable[dict[str, Any]],
    *,
    source: str = "unknown",
    ingested_at: TimeLike | None = None,
    batch_size: int = 1000,
) -> LoadStats:
    """Load raw records (as from :func:`read_postings_file`) in batches of ``batch_size``."""
    stamp = format_ts(ingested_at if ingested_at is not None else utc_now())
    seen: set[str] = set()
    read = inserted = duplicates = without_id = 0
    batch: list[dict[str, Any]] = []
    for record in records:
        read += 1
        row = posting_row(record, default_source=source, ingested_at=stamp)
        if row is None:
            without_id += 1
            continue
        if row["id"] in seen:
            duplicates += 1
            continue
        seen.add(row["id"])
        batch.append(row)
        if len(batch) >= batch_size:
            inserted += _insert_batch(engine, batch)
            batch = []
    if batch:
        inserted += _insert_batch(engine, batch)
    stats = LoadStats(read, inserted, read - inserted - duplicates - without_id, duplicates, without_id)
    if duplicates or without_id:
        log.warning("%d records repeat an earlier id (first kept), %d have no id (skipped)", duplicates, without_id)
    return stats


def load_postings_stats(
    engine: Engine, path: str | Path, *, ingested_at: TimeLike | None = None, source: str | None = None
) -> LoadStats:
    """Load a JSONL(.gz) or CSV(.gz) file; the source defaults to the id prefix or the file name."""
    path = Path(path)
    default_source = source or path.name.split(".", 1)[0]
    stats = load_records(engine, read_postings_file(path), source=default_source, ingested_at=ingested_at)
    log.info(
        "%s: read %d, inserted %d, already present %d", path.name, stats.read, stats.inserted, stats.already_present
    )
    return stats


def load_postings_file(
    engine: Engine, path: str | Path, *, ingested_at: TimeLike | None = None, source: str | None = None
) -> int:
    """Load a postings file; returns how many postings were new."""
    return load_postings_stats(engine, path, ingested_at=ingested_at, source=source).inserted


# -- reading an interval ----------------------------------------------------------------------
_SELECT = "SELECT id AS posting_id, title, body, source, posted_at, ingested_at FROM job_postings "
_IN_INTERVAL = "ingested_at >= :start AND ingested_at < :end"


def _interval(start: TimeLike, end: TimeLike) -> dict[str, str]:
    params = {"start": format_ts(start), "end": format_ts(end)}
    if params["start"] >= params["end"]:
        raise ValueError(f"empty interval: start {params['start']} is not before end {params['end']}.")
    return params


def _frame(rows: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=POSTING_COLUMNS, dtype=object)


def count_postings(engine: Engine, start: TimeLike, end: TimeLike) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT COUNT(*) FROM job_postings WHERE {_IN_INTERVAL}"), _interval(start, end)
            ).scalar_one()
        )


def iter_postings(engine: Engine, start: TimeLike, end: TimeLike, chunk_size: int = 1000) -> Iterator[pd.DataFrame]:
    """Postings ingested in [start, end), ``chunk_size`` at a time, in id order.

    Keyset pagination (``id > last id seen``): each page is one bounded query, so memory and
    per-page cost do not grow with the interval.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    params: dict[str, Any] = {**_interval(start, end), "limit": chunk_size}
    first = sa.text(f"{_SELECT} WHERE {_IN_INTERVAL} ORDER BY id LIMIT :limit")
    after = sa.text(f"{_SELECT} WHERE {_IN_INTERVAL} AND id > :after ORDER BY id LIMIT :limit")
    query = first
    while True:
        with engine.connect() as conn:
            rows = conn.execute(query, params).fetchall()
        if not rows:
            return
        yield _frame(rows)
        if len(rows) < chunk_size:
            return
        params["after"], query = rows[-1][0], after


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
        rows = conn.execute(query, {**_interval(start, end), "size": chunk_size}).fetchall()
    return [r[0] for r in rows], int(rows[0][1]) if rows else 0


def read_posting_range(
    engine: Engine, start: TimeLike, end: TimeLike, id_from: str | None, id_to: str | None
) -> pd.DataFrame:
    """Postings of the interval with ``id_from <= id < id_to`` (``None``: unbounded), in id order."""
    conditions, params = [_IN_INTERVAL], dict(_interval(start, end))
    if id_from is not None:
        conditions.append("id >= :id_from")
        params["id_from"] = id_from
    if id_to is not None:
        conditions.append("id < :id_to")
        params["id_to"] = id_to
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"{_SELECT} WHERE {' AND '.join(conditions)} ORDER BY id"), params).fetchall()
    return _frame(rows)
