"""The coded-title memory, read from the store and fitted: what the nightly applies after the model,
and what ``jobclass memory`` and the review page list.

Nothing here is trained by the retrain: the memory is counted afresh from the current decisions
whenever it is read, so a decision takes effect at the next nightly run (and a bulk decision at
once, on the pending postings it names). With the model's version, the model's review threshold is
refitted on the same decisions (:mod:`jobclass.memory.model_threshold`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd
from sqlalchemy.engine import Engine

from jobclass.memory.apply import FittedMemory, MemorySettings
from jobclass.memory.entries import NOT_CODABLE, TitleMemory
from jobclass.memory.keys import memory_key, near_key
from jobclass.memory.model_threshold import ReviewedThreshold, fit_reviewed_threshold
from jobclass.memory.scorer import MemoryScorer, leave_one_out

log = logging.getLogger(__name__)


def keys_of(frame: pd.DataFrame, key: Callable[[str | None], str] = memory_key) -> dict[str, str]:
    """Posting id -> memory key ("" for a posting without one), for a frame with ``posting_id`` and
    ``title``; ``key``: another key of the title (:func:`near_keys_of`)."""
    return {str(p): key(t if isinstance(t, str) else None) for p, t in zip(frame["posting_id"], frame["title"])}


def near_keys_of(frame: pd.DataFrame) -> dict[str, str]:
    """Posting id -> its title's head (:func:`jobclass.memory.keys.near_key`), as :func:`keys_of`."""
    return keys_of(frame, near_key)


def decisions_frame(decisions: pd.DataFrame) -> pd.DataFrame:
    """The store's decisions (:func:`jobclass.store.memory.read_decisions`) with their memory key
    and their title's head (``near_key``)."""
    titles = [t if isinstance(t, str) else None for t in decisions["title"]]
    keyed = decisions.assign(memory_key=[memory_key(t) for t in titles], near_key=[near_key(t) for t in titles])
    return keyed.assign(onet_code=keyed["onet_code"].fillna(""))


def fit_memory(
    decisions: pd.DataFrame,
    retired: dict[str, str],
    model_codes: dict[str, list[str]],
    settings: MemorySettings | None = None,
) -> FittedMemory:
    """The memory from keyed decisions, and its scorer fitted leave-one-out on the reviewed postings
    whose model ranking is known."""
    settings = settings or MemorySettings()
    if not settings.near_titles or "near_key" not in decisions.columns:
        decisions = decisions.assign(near_key="")
    memory = TitleMemory.from_decisions(decisions, retired)
    reviewed = decisions[decisions["posting_id"].astype(str).isin(model_codes)]
    reviewed = pd.DataFrame(
        {
            "posting_id": reviewed["posting_id"].astype(str),
            "memory_key": reviewed["memory_key"],
            "near_key": reviewed["near_key"],
            "code": [NOT_CODABLE if d == NOT_CODABLE else c for d, c in zip(reviewed["decision"], reviewed["onet_code"])],
            "model_codes": [model_codes[str(p)] for p in reviewed["posting_id"]],
        }
    )
    X, y = leave_one_out(memory, reviewed)
    return FittedMemory(memory, MemoryScorer(target_precision=settings.target_precision).fit(X, y), settings)


def reviewed_threshold(decisions: pd.DataFrame, model_top1: pd.DataFrame, settings: MemorySettings | None = None) -> ReviewedThreshold:
    """The model's review threshold refitted on the reviewed postings it coded on its own:
    ``model_top1`` (:func:`jobclass.store.memory.read_model_top1`) against their current decisions."""
    settings = settings or MemorySettings()
    chosen = decisions.assign(
        posting_id=decisions["posting_id"].astype(str),
        chosen=decisions["onet_code"].where(decisions["decision"] != NOT_CODABLE, ""),
    )
    rows = model_top1.assign(posting_id=model_top1["posting_id"].astype(str)).merge(
        chosen[["posting_id", "memory_key", "chosen", "created_at"]], on="posting_id"
    )
    # One row per title: postings sharing a title share the model's score and its error, and one
    # bulk decision labels them all; counted each, a frequent title would stand for many decisions.
    rows = rows.sort_values(["created_at", "posting_id"], kind="stable")
    keyed = rows["memory_key"].fillna("") != ""
    rows = pd.concat([rows[keyed].drop_duplicates("memory_key"), rows[~keyed]])
    correct = (rows["chosen"] == rows["onet_code"]).to_numpy()
    return fit_reviewed_threshold(rows["score"].to_numpy(dtype=float), correct, settings.target_precision)


def load_memory(engine: Engine, settings: MemorySettings | None = None, model_version: str | None = None) -> FittedMemory:
    """The memory as it stands in the store now (logged); with ``model_version``, the model's review
    threshold refitted on the reviewed postings that version coded."""
    from jobclass.store.memory import read_decisions, read_model_codes, read_model_top1, read_retirements

    settings = settings or MemorySettings()
    decisions = decisions_frame(read_decisions(engine))
    fitted = fit_memory(decisions, read_retirements(engine), read_model_codes(engine), settings)
    if model_version is not None and settings.refit_model_threshold:
        fitted.model_threshold = reviewed_threshold(decisions, read_model_top1(engine, model_version), settings)
    log.info("Coded-title memory: %s", fitted.describe())
    return fitted


def memory_table(engine: Engine, search: str | None = None, conflicts_only: bool = False) -> pd.DataFrame:
    """The memory's entries as a table (:meth:`TitleMemory.table`), with each entry's evidence;
    ``search``: words that must all be in the key; ``conflicts_only``: the conflicting entries."""
    from jobclass.store.memory import read_decisions, read_retirements

    # Listing needs the entries only: no model ranks read, no score fitted.
    memory = TitleMemory.from_decisions(decisions_frame(read_decisions(engine)), read_retirements(engine))
    table = memory.table()
    table["evidence"] = [memory.entries[k].evidence() for k in table["memory_key"]]
    if search:
        words = search.lower().split()
        table = table[[all(w in k for w in words) for k in table["memory_key"]]]
    if conflicts_only:
        table = table[table["conflict"]]
    return table.reset_index(drop=True)


def memory_entry_of(engine: Engine, posting_id: str) -> dict | None:
    """The memory entry of a posting's key as it stands now (key, code, n, conflict, evidence), or None."""
    from jobclass.store.memory import read_decisions, read_retirements

    decisions = decisions_frame(read_decisions(engine))
    row = decisions[decisions["posting_id"].astype(str) == str(posting_id)]
    if row.empty or not row["memory_key"].iloc[0]:
        return None
    key = row["memory_key"].iloc[0]
    entry = TitleMemory.from_decisions(decisions[decisions["memory_key"] == key], read_retirements(engine)).get(key)
    if entry is None:
        return {"memory_key": key, "retired": True}
    return {"memory_key": key, "onet_code": entry.code, "n": entry.n, "conflict": entry.conflict, "evidence": entry.evidence()}
