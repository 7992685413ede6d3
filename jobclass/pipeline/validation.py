"""Which postings can be predicted, and why the others are rejected. Pure functions, no I/O.

Every posting in a batch ends up in exactly one of the two frames that
:func:`validate_postings` returns, so ``read = valid + rejected`` always holds.

Reason codes (``rejected_postings.reason_code``):

``missing_id``        the posting has no id.
``duplicate_id``      the id was already seen in this batch (the first one is kept).
``invalid_encoding``  too much of the text is undecodable bytes to repair it.
``not_text``          binary data: control characters, or no letters at all.
``empty``             title and body are missing, blank or only HTML markup.
``no_prediction``     valid, but the model returned no row for it (set by jobclass.pipeline.interval).

Not rejected: very long text (truncated, flagged ``truncated``: ``predictions.truncated`` keeps the
flag on the posting's prediction rows), non-English text, emoji next to
words, SQL or script fragments (it is all just text), and a few stray bytes of a legacy encoding
(read as Windows-1252, as browsers do).
"""

from __future__ import annotations

import codecs
import math
import re
from typing import Any

import pandas as pd

from jobclass.memory.apply import REMEMBERED_NOT_CODABLE  # a reason code of the memory
from jobclass.model.cleaning import repair_text

MAX_TITLE_CHARS = 1_000
MAX_BODY_CHARS = 20_000
MAX_REPAIRABLE_BYTE_SHARE = 0.25  # above this share of invalid UTF-8 bytes, do not guess an encoding
MAX_REPLACEMENT_SHARE = 0.20  # above this share of U+FFFD among visible characters: invalid_encoding
MAX_CONTROL_SHARE = 0.05  # above this share of control characters: not_text

REPLACEMENT_CHAR = "\ufffd"
REJECT_COLUMNS = ["posting_id", "reason_code", "detail"]

MISSING_ID = "missing_id"
DUPLICATE_ID = "duplicate_id"
INVALID_ENCODING = "invalid_encoding"
NOT_TEXT = "not_text"
EMPTY = "empty"
NO_PREDICTION = "no_prediction"
REASON_CODES = (MISSING_ID, DUPLICATE_ID, INVALID_ENCODING, NOT_TEXT, EMPTY, NO_PREDICTION, REMEMBERED_NOT_CODABLE)

# Lone surrogates that surrogateescape cannot turn back into bytes (they come from JSON escapes).
_FOREIGN_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 control characters other than tab, line feed, vertical tab, form feed, carriage return.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_LETTER = re.compile(r"[^\W\d_]")
_VISIBLE = re.compile(r"\S")


# -- decoding ---------------------------------------------------------------------------------
def _cp1252_byte(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: read them as Latin-1
        return chr(byte)


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start : error.end]
    return "".join(_cp1252_byte(b) for b in bad), error.end


codecs.register_error("jobclass.cp1252", _cp1252_fallback)


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def invalid_byte_count(raw: bytes) -> int:
    """How many bytes of ``raw`` are not part of a valid UTF-8 sequence."""
    return sum(1 for ch in raw.decode("utf-8", "surrogateescape") if "\udc80" <= ch <= "\udcff")


def decode_bytes(raw: bytes) -> str:
    """UTF-8, repaired when only a few bytes are invalid (read as Windows-1252).

    When many bytes are invalid no encoding is guessed: each becomes U+FFFD, which
    :func:`validate_postings` rejects as ``invalid_encoding``.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if invalid_byte_count(raw) <= MAX_REPAIRABLE_BYTE_SHARE * len(raw):
        return raw.decode("utf-8", "jobclass.cp1252")
    return raw.decode("utf-8", "replace")


def decode_text(value: Any) -> str:
    """Any field value as valid Unicode text; missing values become ``""``.

    ``bytes`` and strings holding surrogate escapes (from ``errors="surrogateescape"`` reads)
    go through :func:`decode_bytes`.
    """
    if is_missing(value):
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return decode_bytes(bytes(value))
    text = value if isinstance(value, str) else str(value)
    if not _ANY_SURROGATE.search(text):
        return text
    text = _FOREIGN_SURROGATE.sub(REPLACEMENT_CHAR, text)
    return decode_bytes(text.encode("utf-8", "surrogateescape"))


def storable_text(value: Any) -> str | None:
    """Text any database can hold: decoded, and NUL (which PostgreSQL refuses) made U+001A.

    SUBSTITUTE keeps a NUL visible to the ``not_text`` check instead of silently dropping it.
    Missing values stay ``None``.
    """
    if is_missing(value):
        return None
    return decode_text(value).replace("\x00", "\x1a")


# -- the checks -------------------------------------------------------------------------------
def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def check_text(title: str, body: str) -> tuple[str, str] | None:
    """The reason code and detail for decoded text that cannot be predicted, or ``None``."""
    combined = f"{title}\n{body}"
    visible = len(_VISIBLE.findall(combined))
    replaced = combined.count(REPLACEMENT_CHAR)
    if replaced and _share(replaced, visible) > MAX_REPLACEMENT_SHARE:
        return INVALID_ENCODING, f"{replaced} of {visible} characters are undecodable bytes"
    controls = len(_CONTROL.findall(combined))
    if _share(controls, len(combined)) > MAX_CONTROL_SHARE:
        return NOT_TEXT, f"{controls} control characters in {len(combined)}: binary data"
    shown = f"{repair_text(title)}\n{repair_text(body)}".replace(REPLACEMENT_CHAR, "")
    if not _VISIBLE.search(shown):
        raw_blank = not _VISIBLE.search(combined.replace(REPLACEMENT_CHAR, ""))
        return EMPTY, "title and body are missing or blank" if raw_blank else "only markup, no text"
    if not _LETTER.search(shown):
        return NOT_TEXT, "no letters"
    return None


def _posting_id(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = decode_text(value).strip()
    return text or None


def validate_postings(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a batch into (valid, rejected).

    ``frame`` needs ``posting_id`` (or ``id``), ``title`` and ``body``; other columns are kept.
    ``valid`` has ``posting_id`` as text, ``title`` and ``body`` decoded, stripped of U+FFFD and
    truncated, and a boolean ``truncated``. ``rejected`` has :data:`REJECT_COLUMNS`, with the
    id as given (``""`` when missing). Input order is kept in both.
    """
    if "posting_id" not in frame.columns and "id" in frame.columns:
        frame = frame.rename(columns={"id": "posting_id"})
    titles = frame["title"] if "title" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    bodies = frame["body"] if "body" in frame.columns else pd.Series([None] * len(frame), index=frame.index)

    seen: set[str] = set()
    keep: list[int] = []
    clean: dict[str, list[Any]] = {"posting_id": [], "title": [], "body": [], "truncated": []}
    rejects: list[tuple[str, str, str]] = []
    for pos, (raw_id, raw_title, raw_body) in enumerate(zip(frame["posting_id"], titles, bodies)):
        posting_id = _posting_id(raw_id)
        if posting_id is None:
            rejects.append(("", MISSING_ID, f"row {pos} has no posting id"))
            continue
        if posting_id in seen:
            rejects.append((posting_id, DUPLICATE_ID, "id already seen in this batch; the first is kept"))
            continue
        seen.add(posting_id)
        title, body = decode_text(raw_title), decode_text(raw_body)
        truncated = len(title) > MAX_TITLE_CHARS or len(body) > MAX_BODY_CHARS
        title, body = title[:MAX_TITLE_CHARS], body[:MAX_BODY_CHARS]
        problem = check_text(title, body)
        if problem is not None:
            rejects.append((posting_id, *problem))
            continue
        keep.append(pos)
        clean["posting_id"].append(posting_id)
        clean["title"].append(title.replace(REPLACEMENT_CHAR, ""))
        clean["body"].append(body.replace(REPLACEMENT_CHAR, ""))
        clean["truncated"].append(truncated)

    others = [c for c in frame.columns if c not in ("posting_id", "title", "body", "truncated")]
    valid = frame.iloc[keep][others].reset_index(drop=True)
    for column, values in clean.items():
        valid[column] = pd.Series(values, dtype=bool if column == "truncated" else object)
    valid = valid[["posting_id", "title", "body", *others, "truncated"]]
    rejected = pd.DataFrame(rejects, columns=REJECT_COLUMNS, dtype=object)
    return valid, rejected
