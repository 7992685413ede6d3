"""Labels as CSV, for coders who work offline: ``jobclass labels export`` writes the review queue,
``jobclass labels import`` reads it back, row by row.

An imported row is a decision on one posting: ``onet_code`` holds a code or "not codable"; a blank
one is skipped. A row with an unknown posting id, an unknown code, or a posting that another row
also decides (duplicates) is rejected with its reason; every other row is recorded.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

from jobclass.pipeline.review import SUGGESTIONS, parse_code, suggested_rank
from jobclass.store.labels import (
    Decision,
    QueueFilter,
    current_labels,
    known_posting_ids,
    queue_page,
    record_decisions,
    top_predictions,
)

EXPORT_COLUMNS = ["posting_id", "run_id", "model_version", "title", "body", "suggestions", "onet_code", "note", "reviewer"]
REQUIRED_COLUMNS = ("posting_id", "onet_code")
EXPORT_PAGE = 500
BLANK_CELLS = {"onet_code": "", "note": "", "reviewer": ""}  # for the coder to fill in


@dataclass
class ImportReport:
    """What an import did: the decisions recorded, rows skipped (blank), unchanged, and rejected."""

    recorded: list[Decision] = field(default_factory=list)
    blank: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, posting_id, reason)


#: Free-text cells a spreadsheet could run as a formula (CSV injection) get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("title", "body", "suggestions")


def neutralise_formula(cell: Any) -> Any:
    """``cell`` as a spreadsheet shows it but never evaluates it: text that starts with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading apostrophe (OWASP's CSV-injection advice)."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def _suggestions_cell(suggestions: list[dict[str, Any]]) -> str:
    return "; ".join(f"{s['rank']}. {s['onet_code']} {s['onet_title']} ({s['score']:.2f})" for s in suggestions)


def export_page(engine: Engine, filters: QueueFilter, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the export (:data:`EXPORT_PAGE` rows after the cursor ``after``, none: the first)
    and the cursor of the next page (None after the last)."""
    page = queue_page(engine, filters, EXPORT_PAGE, after=after, count=False)
    top = top_predictions(engine, [r["posting_id"] for r in page.rows], SUGGESTIONS)
    rows = []
    for row in page.rows:
        suggestions = top.get((row["posting_id"], row["model_version"]), [])
        cells = {c: row.get(c) or "" for c in EXPORT_COLUMNS} | {**BLANK_CELLS, "suggestions": _suggestions_cell(suggestions)}
        rows.append({c: neutralise_formula(v) if c in TEXT_COLUMNS else v for c, v in cells.items()})
    return rows, page.next_cursor


def export_rows(engine: Engine, filters: QueueFilter) -> Iterator[dict[str, Any]]:
    """The queue as export rows, page by page by keyset (``onet_code``, ``note`` and ``reviewer`` left blank)."""
    cursor: str | None = None
    while True:
        rows, cursor = export_page(engine, filters, cursor)
        yield from rows
        if cursor is None:
            return


def write_export(engine: Engine, out: IO[str], filters: QueueFilter) -> int:
    """Write the queue to ``out`` as CSV; returns the number of postings."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    count = 0
    for row in export_rows(engine, filters):
        writer.writerow(row)
        count += 1
    return count


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line the row starts on, row) for each data row; ValueError when a required column is missing."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no {', '.join(missing)} column (the header is {reader.fieldnames})")
        rows, start = [], reader.line_num + 1
        for row in reader:
            rows.append((start, {k: (v or "") for k, v in row.items() if k is not None}))
            start = reader.line_num + 1
    return rows


def _duplicates(rows: list[tuple[int, dict[str, str]]]) -> dict[int, str]:
    """line -> reason, for rows whose posting another row also decides: a repeat of an earlier
    row's code is rejected alone; rows that disagree are all rejected (which one is right?)."""
    by_posting: dict[str, list[tuple[int, str]]] = {}
    for line, row in rows:
        if row["posting_id"].strip() and row["onet_code"].strip():
            by_posting.setdefault(row["posting_id"].strip(), []).append((line, row["onet_code"].strip()))
    reasons: dict[int, str] = {}
    for entries in by_posting.values():
        if len(entries) < 2:
            continue
        lines = ", ".join(str(line) for line, _ in entries)
        if len({code for _, code in entries}) > 1:
            reasons |= {line: f"duplicate: conflicting codes for this posting on lines {lines}" for line, _ in entries}
        else:
            reasons |= {line: f"duplicate of line {entries[0][0]}" for line, _ in entries[1:]}
    return reasons


def _decision(row: dict[str, str], reviewer: str, top: dict[tuple[str, str], list[dict[str, Any]]]) -> Decision | None:
    """The row's decision (None when its code is blank); ValueError with the reason when invalid."""
    parsed = parse_code(row["onet_code"])
    if parsed is None:
        return None
    decision, code = parsed
    model_version = row.get("model_version", "").strip() or None
    suggestions = top.get((row["posting_id"].strip(), model_version or ""), [])
    return Decision(
        posting_id=row["posting_id"].strip(),
        decision=decision,
        onet_code=code,
        reviewer=row.get("reviewer", "").strip() or reviewer,
        model_version=model_version,
        suggested_rank=suggested_rank(suggestions, code) if code else None,
        note=row.get("note", "").strip() or None,
    )


def _unchanged(decision: Decision, current: dict[str, Any] | None) -> bool:
    if current is None:
        return False
    keys = ("decision", "onet_code", "reviewer", "note")
    return all((current.get(k) or None) == (getattr(decision, k) or None) for k in keys)


def validate_import(engine: Engine, rows: list[tuple[int, dict[str, str]]], reviewer: str) -> ImportReport:
    """Check every row; the report's ``recorded`` holds the decisions to record (nothing written yet)."""
    report = ImportReport()
    ids = [row["posting_id"].strip() for _, row in rows]
    known = known_posting_ids(engine, [i for i in ids if i])
    top = top_predictions(engine, sorted(known), SUGGESTIONS)
    current = current_labels(engine, sorted(known))
    duplicates = _duplicates(rows)
    for line, row in rows:
        posting_id = row["posting_id"].strip()
        try:
            if not posting_id:
                raise ValueError("no posting_id")
            if posting_id not in known:
                raise ValueError(f"unknown posting id {posting_id[:80]!r}")
            if line in duplicates:
                raise ValueError(duplicates[line])
            decision = _decision(row, reviewer, top)
        except ValueError as exc:
            report.rejected.append((line, posting_id, str(exc)))
            continue
        if decision is None:
            report.blank += 1
        elif _unchanged(decision, current.get(posting_id)):
            report.unchanged += 1
        else:
            report.recorded.append(decision)
    return report


def import_labels(engine: Engine, path: Path, reviewer: str) -> ImportReport:
    """Validate ``path`` and record its valid decisions (one transaction)."""
    report = validate_import(engine, read_rows(path), reviewer)
    record_decisions(engine, report.recorded)
    return report
