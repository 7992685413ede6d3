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

import re
from typing import Any

import pandas as pd

from jobclass.memory.apply import REMEMBERED_NOT_CODABLE  # a reason code of the memory
from jobclass.model.cleaning import repair_text
from jobclass.postings.text import REPLACEMENT_CHAR, decode_text, is_missing

MAX_TITLE_CHARS = 1_000
MAX_BODY_CHARS = 20_000
MAX_REPLACEMENT_SHARE = 0.20  # above this share of U+FFFD among visible characters: invalid_encoding
MAX_CONTROL_SHARE = 0.05  # above this share of control characters: not_text

REJECT_COLUMNS = ["posting_id", "reason_code", "detail"]

MISSING_ID = "missing_id"
DUPLICATE_ID = "duplicate_id"
INVALID_ENCODING = "invalid_encoding"
NOT_TEXT = "not_text"
EMPTY = "empty"
NO_PREDICTION = "no_prediction"
REASON_CODES = (MISSING_ID, DUPLICATE_ID, INVALID_ENCODING, NOT_TEXT, EMPTY, NO_PREDICTION, REMEMBERED_NOT_CODABLE)

# C0 and C1 control characters other than tab, line feed, vertical tab, form feed, carriage return.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_LETTER = re.compile(r"[^\W\d_]")
_VISIBLE = re.compile(r"\S")


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
