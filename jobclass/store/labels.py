"""The SQL of ``posting_labels``: the human-reviewed labels the weekly retrain learns from, the
review queue (top-1 predictions flagged ``needs_review``), and the decisions of the review page
and of ``jobclass labels import``.

A posting has one current decision (its ``posting_labels`` rows); a new decision moves the old rows
to ``posting_label_history`` (who replaced them, when) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.store.engine import format_ts, utc_now

LABEL_COLUMNS = ["posting_id", "title", "body", "onet_code"]
CODED = "coded"
NOT_CODABLE = "not_codable"
DECISIONS = (CODED, NOT_CODABLE)
QUEUE_STATES = ("pending", "decided", "all")
LABEL_LOCK_KEY = 4_242_004  # PostgreSQL advisory lock id: one decision at a time per database

_REVIEWED = sa.text(
    "SELECT l.posting_id, p.title, p.body, l.onet_code, l.created_at, l.decision FROM posting_labels l "
    "JOIN job_postings p ON p.id = l.posting_id ORDER BY l.posting_id, l.created_at DESC, l.onet_code"
)

# The latest top-1 prediction of each posting flagged for review (every posting, with :flagged_only 0;
# with :run_id, that run's), filtered and searched (posting id, code prefix, or words of the title);
# newest run first. total is the number of rows before paging.
#: The queue's orders: ``impact`` (the review queue's default: the postings one decision settles, those
#: sharing a memory key, most first, then the least certain) and ``newest`` (newest run first).
QUEUE_ORDERS = {
    "impact": "settles DESC, COALESCE(q.memory_key, ''), q.score, q.posting_id",
    "newest": "q.run_started DESC, q.run_id, q.score, q.posting_id",
}
_QUEUE_SQL = (
    "WITH q AS (SELECT p.posting_id, p.run_id, p.model_version, p.onet_code, p.score, p.major_group, p.predicted_at, "
    "p.source, p.memory_key, j.title, j.body, COALESCE(r.started_at, p.predicted_at) AS run_started "
    "FROM predictions p JOIN job_postings j ON j.id = p.posting_id "
    "LEFT JOIN prediction_runs r ON r.run_id = p.run_id "
    "WHERE p.rank = 1 AND (:flagged_only = 0 OR p.needs_review = TRUE) "
    "AND (CAST(:search AS TEXT) IS NULL OR p.posting_id = CAST(:search AS TEXT) "
    "  OR p.onet_code LIKE CAST(:search_code AS TEXT) ESCAPE '!' "
    "  OR LOWER(COALESCE(j.title, '')) LIKE CAST(:search_title AS TEXT) ESCAPE '!') "
    "AND (CAST(:run_id AS TEXT) IS NULL OR p.run_id = CAST(:run_id AS TEXT)) "
    "AND (CAST(:major_group AS TEXT) IS NULL OR p.major_group = CAST(:major_group AS TEXT)) "
    "AND (CAST(:model_version AS TEXT) IS NULL OR p.model_version = CAST(:model_version AS TEXT)) "
    "AND (CAST(:score_min AS DOUBLE PRECISION) IS NULL OR p.score >= CAST(:score_min AS DOUBLE PRECISION)) "
    "AND (CAST(:score_max AS DOUBLE PRECISION) IS NULL OR p.score < CAST(:score_max AS DOUBLE PRECISION)) "
    "AND (CAST(:run_id AS TEXT) IS NOT NULL OR NOT EXISTS (SELECT 1 FROM predictions q "
    "  WHERE q.posting_id = p.posting_id AND q.rank = 1 AND q.predicted_at > p.predicted_at)) "
    "AND (CAST(:state AS TEXT) <> 'pending' OR NOT EXISTS (SELECT 1 FROM posting_labels l WHERE l.posting_id = p.posting_id)) "
    "AND (CAST(:state AS TEXT) <> 'decided' OR EXISTS (SELECT 1 FROM posting_labels l WHERE l.posting_id = p.posting_id)) "
    "AND (CAST(:memory_key AS TEXT) IS NULL OR p.memory_key = CAST(:memory_key AS TEXT))) "
    "SELECT q.*, COUNT(*) OVER () AS total, "
    "CASE WHEN q.memory_key IS NULL THEN 1 ELSE COUNT(*) OVER (PARTITION BY q.memory_key) END AS settles "
    "FROM q ORDER BY {order} LIMIT :limit OFFSET :offset"
)
_QUEUE = {name: sa.text(_QUEUE_SQL.format(order=order)) for name, order in QUEUE_ORDERS.items()}
_TOP = sa.text(
    "SELECT posting_id, model_version, rank, onet_code, onet_title, score, evidence, evidence_score, source "
    "FROM predictions WHERE posting_id IN :ids AND rank <= :k ORDER BY posting_id, model_version, rank"
).bindparams(sa.bindparam("ids", expanding=True))
_CURRENT = sa.text(
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id "
    "FROM posting_labels WHERE posting_id IN :ids ORDER BY posting_id, created_at DESC"
).bindparams(sa.bindparam("ids", expanding=True))
_HISTORY = sa.text(
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id, "
    "superseded_at, superseded_by FROM posting_label_history WHERE posting_id = :posting_id "
    "ORDER BY created_at, reviewer"
)
# The memory key of a posting's latest prediction.
_KEY_OF = sa.text(
    "SELECT memory_key FROM predictions WHERE posting_id = :posting_id AND rank = 1 ORDER BY predicted_at DESC LIMIT 1"
)
_KNOWN_POSTINGS = sa.text("SELECT id FROM job_postings WHERE id IN :ids").bindparams(
    sa.bindparam("ids", expanding=True)
)
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_SUPERSEDE = sa.text(
    "INSERT INTO posting_label_history (posting_id, onet_code, reviewer, created_at, note, decision, "
    "model_version, suggested_rank, bulk_id, superseded_at, superseded_by) "
    "SELECT posting_id, onet_code, reviewer, created_at, note, decision, model_version, suggested_rank, bulk_id, "
    ":now, :reviewer FROM posting_labels WHERE posting_id = :posting_id"
)
_DELETE_CURRENT = sa.text("DELETE FROM posting_labels WHERE posting_id = :posting_id")
_INSERT_LABEL = sa.text(
    "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at, note, decision, model_version, "
    "suggested_rank, bulk_id) VALUES (:posting_id, :onet_code, :reviewer, :created_at, :note, :decision, "
    ":model_version, :suggested_rank, :bulk_id)"
)
_REVIEW_RUNS = sa.text(
    "SELECT r.run_id, r.started_at, r.model_version FROM prediction_runs r "
    "WHERE EXISTS (SELECT 1 FROM predictions p WHERE p.run_id = r.run_id AND p.rank = 1 AND p.needs_review = TRUE) "
    "ORDER BY r.started_at DESC, r.run_id LIMIT :limit"
)
_REVIEW_VERSIONS = sa.text(
    "SELECT DISTINCT model_version FROM predictions WHERE rank = 1 AND needs_review = TRUE ORDER BY model_version"
)


@dataclass(frozen=True)
class QueueFilter:
    """What the review queue shows: ``None`` is no filter; ``score_min <= score < score_max``."""

    run_id: str | None = None
    major_group: str | None = None
    model_version: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    state: str = "pending"
    flagged_only: bool = True  # False: every posting's predictions (the predictions browser)
    search: str | None = None  # a posting id, a code or its prefix, or words of the title
    memory_key: str | None = None  # only the postings with this memory key
    order: str = "impact"  # see QUEUE_ORDERS

    def params(self) -> dict[str, Any]:
        if self.state not in QUEUE_STATES:
            raise ValueError(f"state must be one of {QUEUE_STATES}, not {self.state!r}")
        if self.order not in QUEUE_ORDERS:
            raise ValueError(f"order must be one of {list(QUEUE_ORDERS)}, not {self.order!r}")
        search = (self.search or "").strip() or None
        pattern = _like_literal(search.lower()) if search else ""
        params = asdict(self)
        del params["order"]
        return {
            **params,
            "flagged_only": int(self.flagged_only),
            "search": search,
            "search_code": pattern + "%",
            "search_title": "%" + "%".join(pattern.split()) + "%",
        }


def _like_literal(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '!' (its %, _ and ! escaped)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on a posting: a code (``coded``) or ``not_codable`` (no code)."""

    posting_id: str
    decision: str
    onet_code: str
    reviewer: str
    model_version: str | None = None
    suggested_rank: int | None = None
    note: str | None = None
    bulk_id: str | None = None  # the same id on every label of one "apply to all N" decision

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {self.decision!r}")
        if (self.decision == CODED) != bool(self.onet_code):
            raise ValueError("a coded decision needs a code, a not-codable one has none")
        if not self.reviewer:
            raise ValueError("a decision needs a reviewer")


def read_reviewed_labels(engine: Engine) -> pd.DataFrame:
    """Reviewed labels with their posting text, one per posting (its latest decision, and only when
    that decision is a code: not-codable postings are left out): ``posting_id``, ``title``, ``body``,
    ``onet_code``, as text (missing text is empty). Superseded decisions live in
    ``posting_label_history`` and are never read here."""
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(_REVIEWED).fetchall(), columns=[*LABEL_COLUMNS, "created_at", "decision"])
    frame = frame.drop_duplicates("posting_id", keep="first")
    frame = frame[frame["decision"] == CODED].drop(columns=["created_at", "decision"])
    return frame.fillna("").astype(str).reset_index(drop=True)


def review_queue(engine: Engine, filters: QueueFilter, limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the review queue in ``filters.order`` and the number of rows in the whole queue.
    Each row says how many rows of the queue share its memory key (``settles``: what one decision
    on it, applied to all of them, settles)."""
    params = {**filters.params(), "limit": limit, "offset": offset}
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(_QUEUE[filters.order], params)]
    total = int(rows[0]["total"]) if rows else 0
    for row in rows:
        del row["total"], row["run_started"]
    return rows, total


def pending_group(engine: Engine, posting_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """The pending postings flagged for review that share ``posting_id``'s memory key (it among
    them), least certain first: what "apply to all N" decides. Just the posting when it has no key."""
    with engine.connect() as conn:
        key = conn.execute(_KEY_OF, {"posting_id": posting_id}).scalar()
    if not key:
        rows, _ = review_queue(engine, QueueFilter(search=posting_id), 1)
        return [r for r in rows if r["posting_id"] == posting_id]
    rows, _ = review_queue(engine, QueueFilter(memory_key=key), limit)
    return rows


def top_predictions(engine: Engine, posting_ids: Sequence[str], k: int = 5) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The top ``k`` predictions of each posting, keyed by (posting_id, model_version), best first."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if not posting_ids:
        return out
    with engine.connect() as conn:
        for row in conn.execute(_TOP, {"ids": list(posting_ids), "k": k}):
            out.setdefault((row.posting_id, row.model_version), []).append(dict(row._mapping))
    return out


def current_labels(engine: Engine, posting_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The current decision of each posting that has one (the latest row)."""
    out: dict[str, dict[str, Any]] = {}
    if not posting_ids:
        return out
    with engine.connect() as conn:
        for row in conn.execute(_CURRENT, {"ids": list(posting_ids)}):
            out.setdefault(row.posting_id, dict(row._mapping))
    return out


def label_history(engine: Engine, posting_id: str) -> list[dict[str, Any]]:
    """Every decision on a posting, oldest first: the superseded ones, then the current one."""
    with engine.connect() as conn:
        old = [dict(r._mapping) for r in conn.execute(_HISTORY, {"posting_id": posting_id})]
        now = [dict(r._mapping) for r in conn.execute(_CURRENT, {"ids": [posting_id]})]
    return old + [{**row, "superseded_at": None, "superseded_by": None} for row in reversed(now)]


def known_posting_ids(engine: Engine, posting_ids: Sequence[str]) -> set[str]:
    """Which of ``posting_ids`` are in ``job_postings`` (asked in batches)."""
    found: set[str] = set()
    unique = sorted(set(posting_ids))
    with engine.connect() as conn:
        for start in range(0, len(unique), 500):
            found |= {r.id for r in conn.execute(_KNOWN_POSTINGS, {"ids": unique[start : start + 500]})}
    return found


def _record(conn: Connection, decision: Decision, now: str) -> None:
    conn.execute(_SUPERSEDE, {"now": now, "reviewer": decision.reviewer, "posting_id": decision.posting_id})
    conn.execute(_DELETE_CURRENT, {"posting_id": decision.posting_id})
    conn.execute(_INSERT_LABEL, {**asdict(decision), "created_at": now})


def record_decisions(engine: Engine, decisions: Sequence[Decision]) -> int:
    """Record decisions in one transaction: each replaces its posting's current decision, which is
    kept in ``posting_label_history``. Returns how many were recorded."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(_LOCK, {"key": LABEL_LOCK_KEY})
        now = format_ts(utc_now())
        for decision in decisions:
            _record(conn, decision, now)
    return len(decisions)


def record_decision(engine: Engine, decision: Decision) -> dict[str, Any]:
    """Record one decision (see :func:`record_decisions`) and return it as stored."""
    record_decisions(engine, [decision])
    return current_labels(engine, [decision.posting_id])[decision.posting_id]


def review_runs(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """Prediction runs with postings flagged for review, newest first: run_id, started_at, model_version."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(_REVIEW_RUNS, {"limit": limit})]


def review_model_versions(engine: Engine) -> list[str]:
    """Model versions with postings flagged for review."""
    with engine.connect() as conn:
        return [r.model_version for r in conn.execute(_REVIEW_VERSIONS)]

