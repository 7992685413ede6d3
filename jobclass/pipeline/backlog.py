"""The backlog: pending postings that a decision made after they were coded may now settle.

A decision pays back at once on every posting it settles. The nightly run codes the night's new
postings with the memory as it stands; this step then re-runs each earlier interval that holds a
pending posting (top 1 flagged, nobody decided it) whose memory key, or its title's head (the
memory's fallback, :func:`jobclass.memory.keys.near_key`), got a decision, or was retired, after
that interval's run started (a run reads the memory when it starts). The re-run is the interval's own
(:func:`classify_interval` with ``force``: same run id, its SQL rows and Parquet parts replaced and
reconciled), so SQL and Parquet stay one. The memory codes the pending postings as it would code a
new posting with the title: accepted where its fitted score allows, flagged with the evidence
otherwise. Every other posting of the interval is predicted again too, with the same result unless
the memory or the model's refitted threshold changed since; postings a reviewer decided keep the
model's own rows (the memory does not code a posting from its own decision).

The cost is bounded: only intervals that ended within ``lookback_days`` of ``end`` are looked at,
and one is re-run only when a decision since its run touched one of its pending postings' keys (a
retried task or ``jobclass memory recode`` may re-run it again; that changes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from jobclass.pipeline.interval import Classifier, RunSummary, classify_interval
from jobclass.pipeline.memory import decisions_frame, near_keys_of
from jobclass.store.engine import TimeLike, format_ts, to_utc

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 30


def key_changed_at(decisions: pd.DataFrame, retired: Mapping[str, str] | None = None) -> dict[str, str]:
    """Memory key -> when its entry last changed: its latest decision (keyed decisions,
    :func:`decisions_frame`) or its latest retirement, whichever came last."""
    keyed = decisions[decisions["memory_key"].fillna("") != ""]
    changed = keyed.groupby("memory_key")["created_at"].max().to_dict()
    for key, at in (retired or {}).items():
        changed[key] = max(changed.get(key, at), at)
    return changed


def near_changed_at(decisions: pd.DataFrame, retired: Mapping[str, str] | None = None) -> dict[str, str]:
    """Title head (``near_key`` of :func:`decisions_frame`) -> when an entry of one of its titles
    last changed (:func:`key_changed_at`): the memory's fallback entry for that head changed then."""
    keyed = decisions[(decisions["memory_key"].fillna("") != "") & (decisions["near_key"].fillna("") != "")]
    changed = key_changed_at(keyed, retired)
    heads: dict[str, str] = {}
    for key, head in zip(keyed["memory_key"], keyed["near_key"]):
        if key in changed and changed[key] > heads.get(head, ""):
            heads[head] = changed[key]
    return heads


def backlog_intervals(
    pending: pd.DataFrame, changed_at: Mapping[str, str], near_changed: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """The intervals (oldest first) of ``pending`` postings (:func:`jobclass.store.memory.read_pending_keyed`)
    whose key's entry (:func:`key_changed_at`), or with ``near_changed`` their title head's
    (:func:`near_changed_at`), changed after their run started. A head's change re-runs a posting's
    interval even where its own title has an entry (which the memory reads first): a re-run too
    many, never one too few."""
    near_changed = near_changed or {}
    head_of = near_keys_of(pending)
    settled = [
        (start, end)
        for posting_id, key, start, end, started in zip(
            pending["posting_id"], pending["memory_key"], pending["interval_start"], pending["interval_end"], pending["started_at"]
        )
        if started is not None
        and (changed_at.get(key, "") > started or near_changed.get(head_of[str(posting_id)], "") > started)
    ]
    return sorted(set(settled))


def recode_backlog(
    engine: Engine,
    classifier: Classifier,
    end: TimeLike,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    top_k: int = 5,
    chunk_size: int = 1000,
    out_dir: str | Path | None = None,
) -> list[RunSummary]:
    """Re-run every interval ending in [``end`` - ``lookback_days``, ``end``] that holds a pending
    posting whose memory key was decided or retired after its run started; returns the re-runs' summaries."""
    from jobclass.store.memory import read_decisions, read_pending_keyed, read_retirements

    since = format_ts(to_utc(end) - timedelta(days=lookback_days))
    pending = read_pending_keyed(engine, classifier.version, since)
    decisions, retired = decisions_frame(read_decisions(engine)), read_retirements(engine)
    intervals = backlog_intervals(pending, key_changed_at(decisions, retired), near_changed_at(decisions, retired))
    if not intervals:
        log.info("Backlog: no pending posting of %s has a title decided or retired since it was coded", classifier.version)
        return []
    log.info("Backlog: %d earlier intervals hold pending postings with a title decided or retired since; re-running them", len(intervals))
    summaries = []
    for i, (start, stop) in enumerate(intervals, 1):
        summary = classify_interval(
            engine, classifier, start, stop, top_k=top_k, chunk_size=chunk_size, out_dir=out_dir, force=True
        )
        log.info("Backlog: %d/%d re-ran %s (%s)", i, len(intervals), summary.run_id, summary.status)
        summaries.append(summary)
    return summaries
