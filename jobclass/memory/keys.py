"""The memory's key: which postings one review speaks for.

``title`` (the default) is the cleaned title (:func:`jobclass.model.cleaning.clean_title`: lower case,
no punctuation or ad decorations, abbreviations spelled out). ``title+agency`` adds the employer
(USAJOBS ``organization``, else ``department``, else the ``employer``/``company`` of other feeds),
``title+series`` the OPM occupational series where the posting carries one. The choice was measured
(leave-one-out precision of each key on the hand-coded postings, ``benchmarks/stream.py --keys``,
``benchmarks/RESULTS.md``). A posting whose title field holds no title has no key: it is never coded
from memory.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jobclass.model.cleaning import clean_title, is_usable_title

TITLE = "title"
TITLE_AGENCY = "title+agency"
TITLE_SERIES = "title+series"
KEY_SCHEMES = (TITLE, TITLE_AGENCY, TITLE_SERIES)
DEFAULT_KEY = TITLE
EMPLOYER_FIELDS = ("organization", "department", "employer", "company", "hiring_organization")


def _extras(extras: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(extras, dict):
        return extras
    if not extras:
        return {}
    try:
        value = json.loads(extras)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _employer(extras: dict[str, Any]) -> str:
    for name in EMPLOYER_FIELDS:
        value = extras.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.lower().split())
    return ""


def _series(extras: dict[str, Any]) -> str:
    value = extras.get("occupational_series")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ""
    return ",".join(sorted(str(v).strip() for v in value if str(v).strip()))


def memory_key(title: str | None, extras: str | dict[str, Any] | None = None, scheme: str = DEFAULT_KEY) -> str:
    """The memory key of a posting ("" when it has none): ``program analyst``, or with a second part
    ``program analyst|veterans health administration``. The second part is left out where the
    posting does not carry it, so such postings share the title-only key."""
    if scheme not in KEY_SCHEMES:
        raise ValueError(f"memory key must be one of {KEY_SCHEMES}, not {scheme!r}")
    if not title or not is_usable_title(title):
        return ""
    key = clean_title(title)
    if not key or scheme == TITLE:
        return key
    second = _employer(_extras(extras)) if scheme == TITLE_AGENCY else _series(_extras(extras))
    return f"{key}|{second}" if second else key


#: Where a title's qualifier starts: a parenthesis, a spaced dash, a colon, a semicolon or a number
#: sign ("Economist (Pathways Recent Graduate)", "Nurse - Night Shift", "Clerk #415"). Chosen on
#: labelled titles outside every benchmark (``benchmarks/near_titles.py``; benchmarks/RESULTS.md,
#: "Near titles"): where a title's own entry is missing, its head's other titles give its label on
#: 0.907 of the Department of Labor's employer titles (SOC, weighted by certifications; the exact
#: title: 0.945) and 0.859 of the federal titles (OPM series). Splitting at a comma too lowered both
#: (0.864 and 0.825): "Farmworkers, Crop" is not "Farmworkers, Livestock".
_QUALIFIER = re.compile(r"\s*(?:\(|\s[-\u2013\u2014]\s|:|;|\s#)")


def near_key(title: str | None) -> str:
    """The key of a title's head, without its qualifiers (:data:`_QUALIFIER`): ``economist`` for
    "Economist (Pathways Recent Graduate)" and for "Economist". The memory falls back on it for a
    posting whose own key nobody reviewed ("" when the title has no usable head)."""
    if not title or not is_usable_title(title):
        return ""
    head = _QUALIFIER.split(title, maxsplit=1)[0]
    return clean_title(head) if head.strip() and is_usable_title(head) else clean_title(title)
