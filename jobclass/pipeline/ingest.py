"""Postings in: read JSONL/CSV files, map each record to a ``job_postings`` row, load in batches.

Loading is idempotent: a posting id already in the table is left untouched (its ``ingested_at``
too), so loading the same file twice adds nothing.

A line that cannot be loaded (not JSON, not an object, no id, a CSV row that does not fit its
header) is rejected with a reason and the load goes on: the load's :class:`LoadStats` and the
``load_rejects`` table say which line and why. Each batch commits through
:func:`jobclass.store.postings.insert_postings_batch` (the ingest lock and stamp are there).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from jobclass.pipeline.validation import MISSING_ID, decode_text, is_missing, storable_text
from jobclass.store.engine import TimeLike, format_ts, utc_now
from jobclass.store.postings import insert_postings_batch

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

ID_FIELDS = ("id", "posting_id")
POSTED_FIELDS = ("posted_at", "publication_date", "date_posted")
# USAJOBS announcements have no body: it is the summary and the duties.
BODY_PART_FIELDS = ("job_summary", "major_duties")

# Reason codes of load_rejects (and jobclass.pipeline.validation.MISSING_ID for a record without an id).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MALFORMED_ROW = "malformed_row"
REJECT_RAW_CHARS = 10_000  # a rejected line is kept in load_rejects up to this many characters
REPORTED_REJECTS = 20  # rejects listed in LoadStats (all of them are in load_rejects)


@dataclass(frozen=True)
class LoadReject:
    """One line of a file (or one record) that was not loaded, and why."""

    line: int
    reason_code: str
    detail: str
    raw: str | None = None


@dataclass(frozen=True)
class LoadStats:
    """What a load did. ``read = inserted + already_present + duplicates_in_file + rejected``;
    ``without_id`` counts the rejects whose reason is ``missing_id``."""

    read: int
    inserted: int
    already_present: int
    duplicates_in_file: int
    without_id: int
    rejected: int = 0
    rejects: tuple[LoadReject, ...] = ()  # the first REPORTED_REJECTS, in line order
    origin: str = ""  # the file (load_rejects.file)
    loaded_at: str = ""  # when the load started (load_rejects.loaded_at)


Entry = tuple[int, dict[str, Any] | LoadReject]


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


def _kept(raw: str) -> str | None:
    """A rejected line as it can be stored: decoded, NUL-free, at most REJECT_RAW_CHARS."""
    return storable_text(raw[:REJECT_RAW_CHARS])


def _jsonl_entries(raw: IO[bytes]) -> Iterator[Entry]:
    for lineno, line in enumerate(raw, start=1):
        text = line.decode("utf-8", "surrogateescape").strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield (
                lineno,
                LoadReject(lineno, INVALID_JSON, f"not valid JSON ({exc.msg}, column {exc.colno})", _kept(text)),
            )
            continue
        if not isinstance(record, dict):
            detail = f"expected a JSON object, got {type(record).__name__}"
            yield lineno, LoadReject(lineno, NOT_AN_OBJECT, detail, _kept(text))
            continue
        yield lineno, record


def _csv_entries(raw: IO[bytes]) -> Iterator[Entry]:
    csv.field_size_limit(2**31 - 1)  # bodies can be far longer than csv's 128 KiB default
    reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline=""))
    if reader.fieldnames is None:  # an empty file
        return
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first_line, LoadReject(first_line, MALFORMED_ROW, f"not valid CSV ({exc})")
            continue
        if None in row:  # DictReader's key for the fields beyond the header
            detail = f"{len(row[None])} more fields than the header's {len(reader.fieldnames)}"
            kept = _kept(json.dumps(list(row.values())[:-1] + row[None], ensure_ascii=False))
            yield first_line, LoadReject(first_line, MALFORMED_ROW, detail, kept)
            continue
        yield first_line, row


def read_postings_entries(path: str | Path) -> Iterator[Entry]:
    """``(line, record)`` per posting, streamed, or ``(line, LoadReject)`` for a line that is not one.

    Bytes that are not UTF-8 survive as surrogate escapes for
    :func:`jobclass.pipeline.validation.decode_text` to repair or flag. A CSV row's line is the line it
    starts on.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"postings file {path} does not exist.")
    kind = file_format(path)
    with _open_binary(path) as raw:
        yield from _jsonl_entries(raw) if kind == "jsonl" else _csv_entries(raw)


def read_postings_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """Raw records, one dict per posting, streamed; a line that is not a record raises ValueError.

    For reading a file that must be clean (the bundled samples); loading uses
    :func:`read_postings_entries`, which rejects such a line and goes on.
    """
    for lineno, entry in read_postings_entries(path):
        if isinstance(entry, LoadReject):
            raise ValueError(f"{path}:{lineno}: {entry.detail}.")  # noqa: TRY004 - a bad line, not a bad argument
        yield entry


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
def _commit(
    engine: Engine, rows: list[dict[str, Any]], rejects: list[LoadReject], *, stamp: str | None, origin: str, loaded_at: str
) -> int:
    reject_rows = [asdict(r) for r in rejects]
    return insert_postings_batch(engine, rows, reject_rows, stamp=stamp, origin=origin, loaded_at=loaded_at)


def _record_text(record: dict[str, Any]) -> str | None:
    return _kept(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))


def load_entries(
    engine: Engine,
    entries: Iterable[Entry],
    *,
    origin: str,
    source: str = "unknown",
    ingested_at: TimeLike | None = None,
    batch_size: int = 1000,
) -> LoadStats:
    """Load ``(line, record or LoadReject)`` entries (as from :func:`read_postings_entries`) in batches.

    Each batch of ``batch_size`` lines commits its new postings and its rejects together, so a
    bad line never undoes, or stops, the rest of the file. ``ingested_at`` stamps the whole
    load with a given time (a backfill: a run of an interval that was already classified does
    not see it until that interval is run again); by default each batch is stamped at commit.
    """
    loaded_at = format_ts(utc_now())
    stamp = format_ts(ingested_at) if ingested_at is not None else None
    seen: set[str] = set()
    read = inserted = duplicates = without_id = rejected = 0
    reported: list[LoadReject] = []
    rows: list[dict[str, Any]] = []
    rejects: list[LoadReject] = []
    for line, entry in entries:
        read += 1
        reject = entry if isinstance(entry, LoadReject) else None
        if reject is None:
            row = posting_row(entry, default_source=source, ingested_at="")
            if row is None:
                detail = f"the record has no {' or '.join(ID_FIELDS)} with a value"
                reject = LoadReject(line, MISSING_ID, detail, _record_text(entry))
            elif row["id"] in seen:
                duplicates += 1
                continue
            else:
                seen.add(row["id"])
                rows.append(row)
        if reject is not None:
            rejected += 1
            without_id += reject.reason_code == MISSING_ID
            rejects.append(reject)
            if len(reported) < REPORTED_REJECTS:
                reported.append(reject)
        if len(rows) + len(rejects) >= batch_size:
            inserted += _commit(engine, rows, rejects, stamp=stamp, origin=origin, loaded_at=loaded_at)
            rows, rejects = [], []
    if rows or rejects:
        inserted += _commit(engine, rows, rejects, stamp=stamp, origin=origin, loaded_at=loaded_at)
    already = read - inserted - duplicates - rejected
    stats = LoadStats(read, inserted, already, duplicates, without_id, rejected, tuple(reported), origin, loaded_at)
    if duplicates:
        log.warning("%s: %d records repeat an earlier id (first kept)", origin, duplicates)
    for reject in reported:
        log.warning("%s:%d rejected (%s): %s", origin, reject.line, reject.reason_code, reject.detail)
    if rejected > len(reported):
        log.warning(
            "%s: %d more lines rejected; see load_rejects (loaded_at %s)", origin, rejected - len(reported), loaded_at
        )
    return stats


def load_records(
    engine: Engine,
    records: Iterable[dict[str, Any]],
    *,
    source: str = "unknown",
    ingested_at: TimeLike | None = None,
    batch_size: int = 1000,
    origin: str = "records",
) -> LoadStats:
    """Load raw records (as from :func:`read_postings_file`); a record's line is its position (1-based)."""
    return load_entries(
        engine,
        enumerate(records, start=1),
        origin=origin,
        source=source,
        ingested_at=ingested_at,
        batch_size=batch_size,
    )


def load_postings_stats(
    engine: Engine,
    path: str | Path,
    *,
    ingested_at: TimeLike | None = None,
    source: str | None = None,
    batch_size: int = 1000,
) -> LoadStats:
    """Load a JSONL(.gz) or CSV(.gz) file; the source defaults to the id prefix or the file name."""
    path = Path(path)
    stats = load_entries(
        engine,
        read_postings_entries(path),
        origin=str(path.resolve()),
        source=source or path.name.split(".", 1)[0],
        ingested_at=ingested_at,
        batch_size=batch_size,
    )
    log.info(
        "%s: read %d, inserted %d, already present %d, rejected %d",
        path.name,
        stats.read,
        stats.inserted,
        stats.already_present,
        stats.rejected,
    )
    return stats


def load_postings_file(
    engine: Engine, path: str | Path, *, ingested_at: TimeLike | None = None, source: str | None = None
) -> int:
    """Load a postings file; returns how many postings were new."""
    return load_postings_stats(engine, path, ingested_at=ingested_at, source=source).inserted
