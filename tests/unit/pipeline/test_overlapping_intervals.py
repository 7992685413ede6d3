"""A posting is coded once per model version (issue 29, item 1): a run whose interval overlaps one
that another run of the same model already coded (a manual run, then the scheduled one) skips those
postings, counts them as ``rows_skipped`` and reconciles; a new model version codes them again."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from jobclass.paths import DEMO_POSTINGS
from jobclass.pipeline.ingest import load_records
from jobclass.pipeline.interval import classify_interval
from jobclass.postings.files import read_postings_file

MANUAL = (datetime(2026, 11, 25, 5, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
SCHEDULED = (datetime(2026, 11, 25, 2, tzinfo=UTC), datetime(2026, 11, 26, 2, tzinfo=UTC))


def _load(engine, prefix: str, n: int, at: datetime, skip: int = 0) -> None:
    records = list(read_postings_file(DEMO_POSTINGS))[skip : skip + n]
    load_records(engine, [{**r, "id": f"{prefix}-{i}"} for i, r in enumerate(records)], source="usajobs", ingested_at=at)


def _top1(engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        query = "SELECT posting_id, run_id FROM predictions WHERE rank = 1 ORDER BY posting_id"
        return [tuple(r) for r in conn.execute(sa.text(query))]


@pytest.mark.slow
def test_the_scheduled_run_skips_what_the_manual_run_coded(engine, tiny_classifier, tmp_path):
    out = tmp_path / "predictions"
    _load(engine, "early", 5, datetime(2026, 11, 25, 6, tzinfo=UTC))
    _load(engine, "late", 4, datetime(2026, 11, 25, 15, tzinfo=UTC), skip=5)
    manual = classify_interval(engine, tiny_classifier, *MANUAL, top_k=2, out_dir=out)
    assert (manual.rows_read, manual.rows_predicted, manual.rows_skipped, manual.status) == (5, 5, 0, "success")
    manual_rows = _top1(engine)

    scheduled = classify_interval(engine, tiny_classifier, *SCHEDULED, top_k=2, out_dir=out)
    assert (scheduled.rows_read, scheduled.rows_predicted, scheduled.rows_rejected, scheduled.rows_skipped) == (9, 4, 0, 5)
    assert scheduled.status == "success"
    rows = _top1(engine)
    assert len(rows) == 9 and set(manual_rows) <= set(rows)  # the manual run's rows are kept, not replaced
    parquet = ds.dataset(str(out), format="parquet", partitioning="hive").to_table(filter=ds.field("rank") == 1).to_pandas()
    assert sorted(parquet["posting_id"]) == sorted(p for p, _ in rows)  # each posting in one part only

    again = classify_interval(engine, tiny_classifier, *SCHEDULED, top_k=2, out_dir=out, force=True)
    assert (again.rows_predicted, again.rows_skipped, again.status) == (4, 5, "success")  # idempotent
    assert _top1(engine) == rows

    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT rows_read, rows_predicted, rows_rejected, rows_skipped FROM prediction_runs ORDER BY interval_start")
        ).all()
    assert [tuple(r) for r in stored] == [(9, 4, 0, 5), (5, 5, 0, 0)]


@pytest.mark.slow
def test_a_rejected_posting_is_not_rejected_twice(engine, tiny_classifier, tmp_path):
    out = tmp_path / "predictions"
    _load(engine, "early", 2, datetime(2026, 11, 25, 6, tzinfo=UTC))
    load_records(engine, [{"id": "empty", "title": "", "body": ""}], source="usajobs", ingested_at=datetime(2026, 11, 25, 7, tzinfo=UTC))
    manual = classify_interval(engine, tiny_classifier, *MANUAL, top_k=2, out_dir=out)
    assert (manual.rows_read, manual.rows_predicted, manual.rows_rejected) == (3, 2, 1)
    scheduled = classify_interval(engine, tiny_classifier, *SCHEDULED, top_k=2, out_dir=out)
    assert (scheduled.rows_read, scheduled.rows_predicted, scheduled.rows_rejected, scheduled.rows_skipped) == (3, 0, 0, 3)
    assert scheduled.status == "success"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM rejected_postings")).scalar_one() == 1
