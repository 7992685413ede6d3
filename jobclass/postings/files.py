"""Reading a postings file: JSONL or CSV, gzipped or not, streamed as ``(line, record)`` entries.

A line that is not a record (not JSON, not a JSON object, a CSV row that does not fit its header) is
read as a :class:`LoadReject` and reading goes on. A gzipped file that ends before its compressed
stream does (``truncated_file``, a copy cut short) or whose compressed data is damaged
(``corrupt_file``) gives every line it could read, then one reject at the first line it could not.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jobclass.postings.text import storable_text

# Reason codes of load_rejects for what reading finds (jobclass.pipeline.ingest adds missing_id).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MALFORMED_ROW = "malformed_row"
TRUNCATED_FILE = "truncated_file"
CORRUPT_FILE = "corrupt_file"
REJECT_RAW_CHARS = 10_000  # a rejected line is kept in load_rejects up to this many characters

# What a gzip stream raises where its data stops (EOFError) or cannot be decompressed.
_UNREADABLE = (EOFError, gzip.BadGzipFile, zlib.error)


@dataclass(frozen=True)
class LoadReject:
    """One line of a file (or one record) that was not loaded, and why."""

    line: int
    reason_code: str
    detail: str
    raw: str | None = None


Entry = tuple[int, dict[str, Any] | LoadReject]


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


def kept_text(raw: str) -> str | None:
    """A rejected line as it can be stored: decoded, NUL-free, at most REJECT_RAW_CHARS."""
    return storable_text(raw[:REJECT_RAW_CHARS])


def _unreadable(line: int, exc: Exception) -> LoadReject:
    """The reject for the rest of a compressed file, from ``line`` on, that could not be read."""
    if isinstance(exc, EOFError):
        detail = f"the file is truncated ({exc}): line {line} and any after it are missing"
        return LoadReject(line, TRUNCATED_FILE, detail)
    detail = f"the compressed data is damaged ({exc}): line {line} and any after it could not be read"
    return LoadReject(line, CORRUPT_FILE, detail)


def _jsonl_entries(raw: IO[bytes]) -> Iterator[Entry]:
    lines = iter(raw)
    lineno = 0
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except _UNREADABLE as exc:
            yield lineno + 1, _unreadable(lineno + 1, exc)
            return
        lineno += 1
        text = line.decode("utf-8", "surrogateescape").strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            detail = f"not valid JSON ({exc.msg}, column {exc.colno})"
            yield lineno, LoadReject(lineno, INVALID_JSON, detail, kept_text(text))
            continue
        if not isinstance(record, dict):
            detail = f"expected a JSON object, got {type(record).__name__}"
            yield lineno, LoadReject(lineno, NOT_AN_OBJECT, detail, kept_text(text))
            continue
        yield lineno, record


def _csv_entries(raw: IO[bytes]) -> Iterator[Entry]:
    csv.field_size_limit(2**31 - 1)  # bodies can be far longer than csv's 128 KiB default
    reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline=""))
    try:
        header = reader.fieldnames
    except _UNREADABLE as exc:
        yield 1, _unreadable(1, exc)
        return
    if header is None:  # an empty file
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
        except _UNREADABLE as exc:
            yield first_line, _unreadable(first_line, exc)
            return
        if None in row:  # DictReader's key for the fields beyond the header
            detail = f"{len(row[None])} more fields than the header's {len(header)}"
            kept = kept_text(json.dumps(list(row.values())[:-1] + row[None], ensure_ascii=False))
            yield first_line, LoadReject(first_line, MALFORMED_ROW, detail, kept)
            continue
        yield first_line, row


def read_postings_entries(path: str | Path) -> Iterator[Entry]:
    """``(line, record)`` per posting, streamed, or ``(line, LoadReject)`` for a line that is not one.

    Bytes that are not UTF-8 survive as surrogate escapes for
    :func:`jobclass.postings.text.decode_text` to repair or flag. A CSV row's line is the line it
    starts on. A compressed file that cannot be read to its end gives a last reject, at the first
    line it could not read (``truncated_file`` or ``corrupt_file``).
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
