"""What a reviewer sees and may choose, without SQL: the 1,016 occupations and their search, the
score bands of the queue's filter, the body with the sentences the model read marked, and a
queue entry with its top-5 suggestions. Shared by the review page and ``jobclass labels``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jobclass.model.cleaning import (
    DEFAULT_BODY_WORDS,
    DUTY_SENTENCE_SCORE,
    is_usable_title,
    remove_contact_details,
    repair_text,
    select_body_sentences,
)
from jobclass.onet.taxonomy import MAJOR_GROUP_NAMES, load_taxonomy

SUGGESTIONS = 5
#: The queue's score bands (top-1 score): name -> [low, high).
SCORE_BANDS: dict[str, tuple[float | None, float | None]] = {
    "<0.2": (None, 0.2),
    "0.2-0.4": (0.2, 0.4),
    "0.4-0.6": (0.4, 0.6),
    ">=0.6": (0.6, None),
}
NOT_CODABLE_WORDS = frozenset({"not codable", "not_codable", "not-codable", "uncodable"})


@dataclass(frozen=True)
class Occupation:
    code: str
    title: str


@lru_cache(maxsize=1)
def occupations() -> tuple[Occupation, ...]:
    """The O*NET-SOC 2019 occupations, by code."""
    frame = load_taxonomy().occupations
    return tuple(Occupation(c, t) for c, t in zip(frame["code"], frame["title"]))


@lru_cache(maxsize=1)
def title_of() -> dict[str, str]:
    return {o.code: o.title for o in occupations()}


def major_groups() -> dict[str, str]:
    """SOC major group code -> name."""
    return dict(MAJOR_GROUP_NAMES)


def _match_rank(occupation: Occupation, query: str) -> int | None:
    """How well ``query`` (lower case) matches: 0 a code prefix, 1 a title prefix, 2 a word prefix, 3 inside."""
    title = occupation.title.lower()
    if occupation.code.startswith(query):
        return 0
    if title.startswith(query):
        return 1
    if any(word.startswith(query) for word in title.replace(",", " ").split()):
        return 2
    return 3 if query in title else None


def search_occupations(query: str, limit: int = 10) -> list[Occupation]:
    """Occupations whose code starts with ``query`` or whose title contains it, best matches first."""
    q = " ".join(query.lower().split())
    if not q:
        return []
    ranked = [(rank, o.code if rank == 0 else o.title, o) for o in occupations() if (rank := _match_rank(o, q)) is not None]
    return [o for _, _, o in sorted(ranked, key=lambda t: (t[0], t[1]))[:limit]]


def score_band(name: str | None) -> tuple[float | None, float | None]:
    """The [low, high) of a band name; no band (None or "") is no bounds."""
    if not name:
        return None, None
    if name not in SCORE_BANDS:
        raise ValueError(f"score band must be one of {list(SCORE_BANDS)}, not {name!r}")
    return SCORE_BANDS[name]


def marked_body(title: str | None, body: str | None) -> list[tuple[str, bool]]:
    """The body as (text, read) segments: ``read`` marks the sentences the model reads (its duty
    sentences, :func:`jobclass.model.cleaning.select_body_sentences`; every sentence when the
    title field holds no title), with the default model settings."""
    text = remove_contact_details(repair_text(body))
    min_score = DUTY_SENTENCE_SCORE if is_usable_title(title) else 0.0
    segments: list[tuple[str, bool]] = []
    cursor = 0
    for sentence in select_body_sentences(body, DEFAULT_BODY_WORDS, min_score):
        at = text.find(sentence, cursor)
        if at < 0:
            continue
        if at > cursor:
            segments.append((text[cursor:at], False))
        segments.append((sentence, True))
        cursor = at + len(sentence)
    if cursor < len(text):
        segments.append((text[cursor:], False))
    return segments


def parse_code(value: str) -> tuple[str, str] | None:
    """A coder's cell as (decision, code): a known code, "not codable", or None (blank).

    Raises ValueError for anything else."""
    cell = value.strip()
    if not cell:
        return None
    if cell.lower() in NOT_CODABLE_WORDS:
        return "not_codable", ""
    if cell not in title_of():
        raise ValueError(f"unknown O*NET-SOC code {cell[:40]!r}")
    return "coded", cell


def suggested_rank(suggestions: list[dict[str, Any]], code: str) -> int | None:
    """The rank of ``code`` among the suggestions shown, or None."""
    return next((int(s["rank"]) for s in suggestions if s["onet_code"] == code), None)
