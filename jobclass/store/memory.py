"""The SQL of the coded-title memory: the decisions it is counted from, the model's ranking of the
reviewed postings (what its score is fitted on), the model's own top 1 of the reviewed postings (what
its review threshold is refitted on), and retired keys (``memory_retirements``).

The memory itself is not a table: it is counted from the current decisions (``posting_labels``) each
time it is read (:mod:`jobclass.memory.entries`), so a new decision, a correction or a bulk
decision changes it at once, and nothing can drift out of step with the labels.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobclass.store.engine import format_ts, utc_now

_DECISIONS = sa.text(
    "SELECT l.posting_id, j.title, l.decision, l.onet_code, l.reviewer, l.created_at "
    "FROM posting_labels l JOIN job_postings j ON j.id = l.posting_id ORDER BY l.created_at, l.posting_id"
)
# The model's own ranking (model_rank) of each reviewed posting, from its latest predictions.
_MODEL_RANKS = sa.text(
    "SELECT p.posting_id, p.predicted_at, p.model_rank, p.onet_code FROM posting_labels l "
    "JOIN predictions p ON p.posting_id = l.posting_id WHERE p.model_rank IS NOT NULL"
)
# One model version's own top 1 (not the memory's) of each reviewed posting: one row per posting, by the key.
_MODEL_TOP1 = sa.text(
    "SELECT DISTINCT p.posting_id, p.score, p.onet_code FROM posting_labels l "
    "JOIN predictions p ON p.posting_id = l.posting_id "
    "WHERE p.model_version = :version AND p.rank = 1 AND p.source = 'model'"
)
# Pending postings of one model version (top 1 flagged, no decision) with a memory key, and the
# successful run that coded them (with when it started, before it read the memory): what a decision
# made since may now settle.
_PENDING_KEYED = sa.text(
    "SELECT p.posting_id, p.memory_key, jp.title, r.interval_start, r.interval_end, r.started_at FROM predictions p "
    "JOIN prediction_runs r ON r.run_id = p.run_id "
    "LEFT JOIN job_postings jp ON jp.id = p.posting_id "
    "LEFT JOIN posting_labels l ON l.posting_id = p.posting_id "
    "WHERE p.model_version = :version AND p.rank = 1 AND p.needs_review AND p.memory_key IS NOT NULL "
    "AND l.posting_id IS NULL AND r.status = 'success' AND r.interval_end >= :since"
)
_RETIREMENTS = sa.text("SELECT memory_key, MAX(retired_at) AS retired_at FROM memory_retirements GROUP BY memory_key")
_RETIRE = sa.text(
    "INSERT INTO memory_retirements (memory_key, retired_at, retired_by, note) VALUES (:key, :at, :by, :note)"
)
_RETIRED_LIST = sa.text(
    "SELECT memory_key, retired_at, retired_by, note FROM memory_retirements ORDER BY retired_at DESC, memory_key"
)


def read_decisions(engine: Engine) -> pd.DataFrame:
    """One row per decided posting (its current decision): ``posting_id``, ``title``, ``decision``,
    ``onet_code`` ("" when not codable), ``reviewer``, ``created_at``; oldest first."""
    columns = ["posting_id", "title", "decision", "onet_code", "reviewer", "created_at"]
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(_DECISIONS)], columns=columns, dtype=object)
    return frame.drop_duplicates("posting_id", keep="last").reset_index(drop=True)


def read_model_codes(engine: Engine) -> dict[str, list[str]]:
    """Posting id -> the codes the model ranked for it (its latest predictions, model rank order),
    for the reviewed postings."""
    with engine.connect() as conn:
        rows = pd.DataFrame(
            [tuple(r) for r in conn.execute(_MODEL_RANKS)], columns=["posting_id", "predicted_at", "model_rank", "onet_code"]
        )
    if rows.empty:
        return {}
    latest = rows.groupby("posting_id")["predicted_at"].transform("max")
    rows = rows[rows["predicted_at"] == latest].sort_values(["posting_id", "model_rank"], kind="stable")
    rows = rows.drop_duplicates(["posting_id", "model_rank"])
    return {str(k): g["onet_code"].tolist() for k, g in rows.groupby("posting_id", sort=False)}


def read_model_top1(engine: Engine, model_version: str) -> pd.DataFrame:
    """``posting_id``, ``score``, ``onet_code``: the top 1 that ``model_version`` itself gave each
    reviewed posting it coded (postings coded from memory left out)."""
    with engine.connect() as conn:
        rows = conn.execute(_MODEL_TOP1, {"version": model_version}).fetchall()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["posting_id", "score", "onet_code"])
    return frame.astype({"posting_id": str, "score": float, "onet_code": str})


def read_pending_keyed(engine: Engine, model_version: str, since: str) -> pd.DataFrame:
    """``posting_id``, ``memory_key``, ``title``, ``interval_start``, ``interval_end``, ``started_at``:
    postings that ``model_version`` flagged and nobody decided, with the successful run (interval
    ending at or after ``since``) that coded them, and when it started."""
    columns = ["posting_id", "memory_key", "title", "interval_start", "interval_end", "started_at"]
    with engine.connect() as conn:
        rows = conn.execute(_PENDING_KEYED, {"version": model_version, "since": since}).fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)


def read_retirements(engine: Engine) -> dict[str, str]:
    """Memory key -> when it was last retired."""
    with engine.connect() as conn:
        return {r.memory_key: r.retired_at for r in conn.execute(_RETIREMENTS)}


def retire(engine: Engine, key: str, reviewer: str, note: str | None = None) -> str:
    """Retire a key's entry: the decisions made on it so far stop counting. Returns when."""
    if not key:
        raise ValueError("a memory key is needed")
    if not reviewer:
        raise ValueError("retiring needs a reviewer")
    at = format_ts(utc_now())
    with engine.begin() as conn:
        conn.execute(_RETIRE, {"key": key, "at": at, "by": reviewer, "note": note})
    return at


def retirements(engine: Engine) -> list[dict]:
    """Every retirement, newest first."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(_RETIRED_LIST)]
