"""Field values as valid Unicode text, and as text any database can hold. Pure functions, no I/O.

Bytes that are not UTF-8 (read with ``errors="surrogateescape"``) are repaired when only a few are
invalid, read as Windows-1252 as browsers do; when many are, each becomes U+FFFD, which
:func:`jobclass.pipeline.validation.validate_postings` rejects as ``invalid_encoding``.
"""

from __future__ import annotations

import codecs
import math
import re
from typing import Any

import pandas as pd

MAX_REPAIRABLE_BYTE_SHARE = 0.25  # above this share of invalid UTF-8 bytes, do not guess an encoding
REPLACEMENT_CHAR = "\ufffd"

# Lone surrogates that surrogateescape cannot turn back into bytes (they come from JSON escapes).
_FOREIGN_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_ANY_SURROGATE = re.compile("[\ud800-\udfff]")


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

    When many bytes are invalid no encoding is guessed: each becomes U+FFFD.
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
