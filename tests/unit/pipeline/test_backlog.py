"""Which earlier intervals the backlog step re-runs: pure functions of the decisions and the pending postings."""

from __future__ import annotations

import pandas as pd

from jobclass.pipeline.backlog import backlog_intervals, key_changed_at, near_changed_at
from jobclass.pipeline.memory import decisions_frame


def _at(day: int) -> str:
    return f"2026-12-{day:02d}T00:00:00.000000Z"


def _decisions(*rows: tuple[str, str, int]) -> pd.DataFrame:
    """(posting, raw title, day) -> the store's decisions, keyed as the nightly keys them."""
    frame = pd.DataFrame(
        [{"posting_id": p, "title": t, "decision": "coded", "onet_code": "19-3011.00", "reviewer": "rita", "created_at": _at(d)} for p, t, d in rows]
    )
    return decisions_frame(frame)


def _pending(*rows: tuple[str, str, str, int, int]) -> pd.DataFrame:
    """(posting, memory key, raw title, interval day, run started day)."""
    return pd.DataFrame(
        [
            {"posting_id": p, "memory_key": k, "title": t, "interval_start": _at(d), "interval_end": _at(d + 1), "started_at": _at(s)}
            for p, k, t, d, s in rows
        ]
    )


def test_a_decision_on_a_title_re_runs_the_intervals_of_its_pending_postings_and_of_its_heads():
    decisions = _decisions(("a", "Economist (Direct Hire)", 5))
    pending = _pending(
        ("x", "economist direct hire", "Economist (Direct Hire)", 1, 2),  # the same title, coded before the decision
        ("y", "economist pathways", "Economist (Pathways)", 2, 3),  # another title with the same head
        ("z", "economist pathways", "Economist (Pathways)", 6, 6),  # coded after the decision: nothing new
        ("w", "budget analyst", "Budget Analyst", 3, 4),  # unrelated
    )
    changed, heads = key_changed_at(decisions), near_changed_at(decisions)
    assert changed == {"economist direct hire": _at(5)} and heads == {"economist": _at(5)}
    assert backlog_intervals(pending, changed) == [(_at(1), _at(2))]  # exact titles only
    assert backlog_intervals(pending, changed, heads) == [(_at(1), _at(2)), (_at(2), _at(3))]


def test_retiring_a_title_changes_its_heads_entry_too():
    decisions = _decisions(("a", "Economist (Direct Hire)", 1))
    heads = near_changed_at(decisions, {"economist direct hire": _at(7)})
    assert heads == {"economist": _at(7)}
    pending = _pending(("y", "economist pathways", "Economist (Pathways)", 4, 5))
    assert backlog_intervals(pending, key_changed_at(decisions), heads) == [(_at(4), _at(5))]
