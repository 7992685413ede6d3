"""A raw posting record mapped to a ``job_postings`` row: the one reading of a record, for the load and
for every benchmark that must read a posting the way the nightly does. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jobclass.postings.text import decode_text, is_missing, storable_text
from jobclass.store.engine import format_ts

ID_FIELDS = ("id", "posting_id")
POSTED_FIELDS = ("posted_at", "publication_date", "date_posted")
# USAJOBS announcements have no body: it is the summary and the duties.
BODY_PART_FIELDS = ("job_summary", "major_duties")


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
