"""Postings in: each record of a file (read by :mod:`jobclass.postings.files`) mapped to a ``job_postings``
row (:func:`jobclass.postings.rows.posting_row`) and loaded in batches.

Loading is idempotent: a posting id already in the table is left untouched (its ``ingested_at``
too), so loading the same file twice adds nothing.

A line that cannot be loaded (not JSON, not an object, no id, a CSV row that does not fit its
header) is rejected with a reason and the load goes on: the load's :class:`LoadStats` and the
``load_rejects`` table say which line and why. A gzipped file cut short loads every line it holds
and records the cut as a reject (``truncated_file``) at the first line it lost. Each batch commits
through :func:`jobclass.store.postings.insert_postings_batch` (the ingest lock and stamp are there).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobclass.pipeline.validation import MISSING_ID
from jobclass.postings.files import (
    CORRUPT_FILE,
    TRUNCATED_FILE,
    Entry,
    LoadReject,
    kept_text,
    read_postings_entries,
)
from jobclass.postings.rows import ID_FIELDS, posting_row
from jobclass.store.engine import TimeLike, format_ts, utc_now
from jobclass.store.postings import insert_postings_batch

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

REPORTED_REJECTS = 20  # rejects listed in LoadStats (all of them are in load_rejects)
UNREAD_REST = (TRUNCATED_FILE, CORRUPT_FILE)  # the rejects of a file that could not be read to its end


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
    unread_rest: LoadReject | None = None  # the file was unreadable from this line on (truncated_file, ...)


# -- loading ----------------------------------------------------------------------------------
def _commit(
    engine: Engine, rows: list[dict[str, Any]], rejects: list[LoadReject], *, stamp: str | None, origin: str, loaded_at: str
) -> int:
    reject_rows = [asdict(r) for r in rejects]
    return insert_postings_batch(engine, rows, reject_rows, stamp=stamp, origin=origin, loaded_at=loaded_at)


def _record_text(record: dict[str, Any]) -> str | None:
    return kept_text(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str))


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
    unread_rest: LoadReject | None = None
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
            unread_rest = reject if reject.reason_code in UNREAD_REST else unread_rest
            rejects.append(reject)
            if len(reported) < REPORTED_REJECTS:
                reported.append(reject)
        if len(rows) + len(rejects) >= batch_size:
            inserted += _commit(engine, rows, rejects, stamp=stamp, origin=origin, loaded_at=loaded_at)
            rows, rejects = [], []
    if rows or rejects:
        inserted += _commit(engine, rows, rejects, stamp=stamp, origin=origin, loaded_at=loaded_at)
    already = read - inserted - duplicates - rejected
    stats = LoadStats(
        read, inserted, already, duplicates, without_id, rejected, tuple(reported), origin, loaded_at, unread_rest
    )
    if duplicates:
        log.warning("%s: %d records repeat an earlier id (first kept)", origin, duplicates)
    for reject in reported:
        if reject is not unread_rest:
            log.warning("%s:%d rejected (%s): %s", origin, reject.line, reject.reason_code, reject.detail)
    if rejected > len(reported):
        log.warning(
            "%s: %d more lines rejected; see load_rejects (loaded_at %s)", origin, rejected - len(reported), loaded_at
        )
    if unread_rest is not None:
        line, reason, detail = unread_rest.line, unread_rest.reason_code, unread_rest.detail
        log.error("%s:%d %s: %s; the lines before it were read", origin, line, reason, detail)
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
    """Load raw records (as from :func:`jobclass.postings.files.read_postings_file`); a record's line is its
    position (1-based)."""
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
