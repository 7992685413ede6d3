"""Nightly runs written straight to the jobclass tables, for the run report's tests (store and page)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from jobclass.pipeline.interval import make_run_id
from jobclass.store import postings, runs
from jobclass.store.engine import format_ts, to_utc
from jobclass.store.predictions import PREDICTION_TABLE_COLUMNS, write_chunk_sql

NIGHT = "2026-11-25T02:00:00Z"


def night(offset: int) -> tuple[str, str]:
    start = to_utc(NIGHT) + timedelta(days=offset)
    return format_ts(start), format_ts(start + timedelta(days=1))


def predictions(
    run_id: str, version: str, rows: list[tuple[str, str, float, bool]], day: str, titles: dict[str, str] | None = None
) -> pd.DataFrame:
    """Top-1 (and a rank-2 decoy) rows: (posting_id, onet_code, score, needs_review); titles default to
    ``Title <code>``."""
    records = []
    for posting_id, code, score, review in rows:
        for rank in (1, 2):
            records.append(
                {
                    "posting_id": posting_id,
                    "rank": rank,
                    "onet_code": code if rank == 1 else "99-9999.00",
                    "onet_title": (titles or {}).get(code, f"Title {code}") if rank == 1 else "Decoy",
                    "score": score if rank == 1 else score / 2,
                    "soc6_code": code[:7],
                    "soc6_score": score,
                    "major_group": code[:2] if rank == 1 else "99",
                    "major_group_score": score,
                    "needs_review": review,
                    "backoff_level": "detailed",
                    "evidence": None,
                    "evidence_score": None,
                    "model_version": version,
                    "run_id": run_id,
                    "partition_date": day[:10],
                    "predicted_at": day,
                    "truncated": False,
                }
            )
    return pd.DataFrame(records, columns=PREDICTION_TABLE_COLUMNS)


def night_run(
    engine, offset: int, rows, rejects=(), version: str = "m1", status: str = "success", later_s: int = 0,
    titles: dict[str, str] | None = None,
) -> str:
    start, end = night(offset)
    started = format_ts(to_utc(end) + timedelta(seconds=later_s))
    run_id = make_run_id(start, end, version)
    ids = [r[0] for r in rows] + [r[0] for r in rejects]
    batch = [{"id": i, "title": "t", "body": "b", "source": "test", "posted_at": None, "extras": None} for i in ids]
    postings.insert_postings_batch(engine, batch, [], stamp=start, origin="test", loaded_at=start)
    runs.record_run_started(
        engine,
        {"run_id": run_id, "interval_start": start, "interval_end": end, "model_version": version,
         "partition_date": start[:10], "chunks": 1, "started_at": started},
    )
    reject_frame = pd.DataFrame(
        [{"posting_id": i, "reason_code": reason, "detail": None} for i, reason in rejects],
        columns=["posting_id", "reason_code", "detail"],
    )
    write_chunk_sql(
        engine, predictions(run_id, version, rows, start, titles), reject_frame, run_id=run_id, model_version=version,
        posting_ids=ids,
    )
    counts = {"rows_read": len(ids), "rows_predicted": len(rows), "rows_rejected": len(rejects)}
    outcome = {"status": status, "detail": None, "finished_at": end, "duration_s": 1.0}
    runs.record_run_outcome(engine, run_id, counts, outcome)
    return run_id
