"""The memory's entries: for each key, what the reviewers decided, counted from their decisions.

:class:`TitleMemory` is fitted (``from_decisions``) on one row per reviewed posting: its key, its
current decision (a code, or not codable), who decided and when. Retiring a key
(``jobclass memory retire``, the review page) drops the decisions made up to then from its entry;
later decisions start it afresh.

An entry is a *conflict* when its reviews disagree about what the title means: more than one code,
and the most frequent one holds less than :data:`DOMINANT_SHARE` of them (0.85, the rate at which
two human coders agree exactly on real postings). A conflict is never accepted without review, and
the reviewer sees every code it holds. A dominant code with a few dissenting reviews (a posting
whose duties differed: "Duties win over the title") is not a conflict; the dissent lowers its
fitted score (:mod:`jobclass.memory.scorer`) and shows in its evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

NOT_CODABLE = "not_codable"
#: Below this share of its reviews, an entry's most frequent code does not settle the title: a conflict.
DOMINANT_SHARE = 0.85
#: The columns :meth:`TitleMemory.from_decisions` reads.
DECISION_COLUMNS = ["posting_id", "memory_key", "decision", "onet_code", "reviewer", "created_at"]


@dataclass(frozen=True)
class MemoryEntry:
    """What the reviewers decided for one key. ``counts`` maps a code (or ``not_codable``) to the
    number of postings decided so; ``code`` is the most frequent (the latest decided on a tie)."""

    key: str
    counts: Mapping[str, int]
    last_reviewer: str
    last_at: str
    posting_ids: tuple[str, ...] = field(default=(), repr=False)
    #: Counted over every title with the posting's head (:func:`jobclass.memory.keys.near_key`): the
    #: fallback for a posting whose own title nobody reviewed.
    near: bool = False

    @property
    def code(self) -> str:
        return self.ranked_codes[0]

    @property
    def ranked_codes(self) -> list[str]:
        """Codes by count, most frequent first (ties: first decided last wins, via insertion order)."""
        order = {code: i for i, code in enumerate(self.counts)}
        return sorted(self.counts, key=lambda c: (-self.counts[c], -order[c]))

    @property
    def n(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def n_agree(self) -> int:
        return int(self.counts[self.code])

    @property
    def conflict(self) -> bool:
        return len(self.counts) > 1 and self.n_agree < DOMINANT_SHARE * self.n

    @property
    def not_codable(self) -> bool:
        return self.code == NOT_CODABLE

    def evidence(self) -> str:
        """"reviewed: 12 postings with this title coded 13-1111.00, last by rita on 2026-12-01"."""
        parts = [
            f"{count} marked not codable" if code == NOT_CODABLE else f"{count} coded {code}"
            for code, count in ((c, self.counts[c]) for c in self.ranked_codes)
        ]
        noun = "posting" if self.n == 1 else "postings"
        what = f"with a title like this one ({self.key} ...)" if self.near else "with this title"
        if len(parts) == 1:
            head, body = f"reviewed: {self.n} {noun} {what}", parts[0].split(" ", 1)[1]
        else:
            head = f"reviewed: {self.n} {noun} {what}, {'conflicting' if self.conflict else 'mostly'}:"
            body = ", ".join(parts)
        return f"{head} {body}, last by {self.last_reviewer} on {self.last_at[:10]}"

    def without(self, posting_id: str, code: str) -> MemoryEntry | None:
        """The entry without one posting's decision (leave-one-out), or None when nothing is left."""
        if posting_id not in self.posting_ids:
            return self
        counts = dict(self.counts)
        counts[code] -= 1
        if counts[code] <= 0:
            del counts[code]
        if not counts:
            return None
        ids = tuple(p for p in self.posting_ids if p != posting_id)
        return MemoryEntry(self.key, counts, self.last_reviewer, self.last_at, ids, self.near)


def _entry(key: str, rows: list[tuple], near: bool = False) -> MemoryEntry:
    """The entry of one key's decisions, oldest first: (code, reviewer, created_at, posting_id)."""
    counts: dict[str, int] = {}
    for code, *_ in rows:  # insertion order: the code first decided last comes last
        counts[code] = counts.pop(code, 0) + 1
    _, reviewer, at, _ = rows[-1]
    return MemoryEntry(key, counts, reviewer, at, tuple(r[3] for r in rows), near)


@dataclass
class TitleMemory:
    """Key -> :class:`MemoryEntry`; and, where the decisions carry a ``near_key``, each title head
    -> the entry counted over every title with that head (:meth:`lookup` falls back on it)."""

    entries: dict[str, MemoryEntry] = field(default_factory=dict)
    near_entries: dict[str, MemoryEntry] = field(default_factory=dict)
    #: Keys a reviewer retired: their postings go to the model, not to their head's entry.
    retired: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> MemoryEntry | None:
        return self.entries.get(key) if key else None

    def lookup(self, key: str, near_key: str = "") -> MemoryEntry | None:
        """The entry of ``key``; where nobody reviewed it (and nobody retired it), the entry of its
        head ``near_key``."""
        entry = self.get(key)
        if entry is None and near_key and key not in self.retired:
            entry = self.near_entries.get(near_key)
        return entry

    def lookup_without(self, key: str, near_key: str, posting_id: str, code: str) -> MemoryEntry | None:
        """What :meth:`lookup` would return had ``posting_id`` (decided ``code``) not been decided:
        the leave-one-out view of one reviewed posting."""
        entry = self.get(key)
        rest = entry.without(posting_id, code) if entry is not None else None
        if rest is None and near_key and key not in self.retired and (near := self.near_entries.get(near_key)) is not None:
            rest = near.without(posting_id, code)
        return rest

    @classmethod
    def from_decisions(cls, decisions: pd.DataFrame, retired: Mapping[str, str] | None = None) -> TitleMemory:
        """Entries from one current decision per posting (:data:`DECISION_COLUMNS`; ``onet_code``
        is "" for not codable). ``retired`` maps a key to when it was last retired: decisions made
        up to then do not count."""
        retired = retired or {}
        if decisions.empty:
            return cls()
        frame = decisions[decisions["memory_key"].fillna("") != ""].sort_values(["created_at", "posting_id"], kind="stable")
        if "near_key" not in frame.columns:
            frame = frame.assign(near_key="")
        grouped: dict[str, list[tuple]] = {}
        near_grouped: dict[str, list[tuple]] = {}
        for row in frame.itertuples(index=False):
            cutoff = retired.get(row.memory_key)
            if cutoff is not None and row.created_at <= cutoff:
                continue
            code = NOT_CODABLE if row.decision == NOT_CODABLE else row.onet_code
            decision = (code, row.reviewer, row.created_at, row.posting_id)
            grouped.setdefault(row.memory_key, []).append(decision)
            if isinstance(row.near_key, str) and row.near_key:
                near_grouped.setdefault(row.near_key, []).append(decision)
        return cls(
            {key: _entry(key, rows) for key, rows in grouped.items()},
            {key: _entry(key, rows, near=True) for key, rows in near_grouped.items()},
            frozenset(retired),
        )

    def table(self) -> pd.DataFrame:
        """One row per entry, largest first: key, code, n, n_agree, conflict, codes, last_reviewer, last_at."""
        rows = [
            {
                "memory_key": e.key,
                "onet_code": e.code,
                "n": e.n,
                "n_agree": e.n_agree,
                "conflict": e.conflict,
                "codes": "; ".join(f"{c} x{e.counts[c]}" for c in e.ranked_codes),
                "last_reviewer": e.last_reviewer,
                "last_at": e.last_at,
            }
            for e in self.entries.values()
        ]
        columns = ["memory_key", "onet_code", "n", "n_agree", "conflict", "codes", "last_reviewer", "last_at"]
        frame = pd.DataFrame(rows, columns=columns)
        return frame.sort_values(["n", "memory_key"], ascending=[False, True], kind="stable").reset_index(drop=True)
