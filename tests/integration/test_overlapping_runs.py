"""Manual and scheduled runs of the nightly that overlap (issue 29, item 1).

A run triggered with no logical date codes [end of the last success, run_after); the next scheduled
run's data interval can cover the same postings. The rule (pipeline/interval.py): a posting is coded
once per model version, so the scheduled run skips what the manual run already coded, counts it as
``rows_skipped`` and still reconciles. No posting twice in SQL or in the Parquet partitions, and the
drift baseline of a later run counts each posting once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pandas as pd
import pyarrow.dataset as ds
import sqlalchemy as sa
from airflow_fixtures import airflow_db  # noqa: F401  (fixture)
from test_dags import (  # noqa: F401  (fixtures and helpers of the nightly's dag.test() runs)
    NIGHTLY,
    _fresh_dag,
    _promote,
    _task_states,
    jobclass_env,
    nightly,
)
from test_manual_run import _load

MANUAL_LOAD = datetime(2024, 3, 4, 5, 0, tzinfo=UTC)
MANUAL_RUN_AFTER = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
LATE_LOAD = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
SCHEDULED = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)  # its data interval: [2024-03-04T02:00, 2024-03-05T02:00)
NEXT_LOAD = datetime(2024, 3, 5, 3, 0, tzinfo=UTC)
NEXT_RUN_AFTER = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)


def _runs(engine) -> list[tuple]:
    query = sa.text(
        "SELECT interval_start, interval_end, rows_read, rows_predicted, rows_rejected, rows_skipped, status "
        "FROM prediction_runs ORDER BY started_at"
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def _parquet_top1(home) -> pd.DataFrame:
    table = ds.dataset(str(home / "predictions"), format="parquet", partitioning="hive").to_table(
        filter=ds.field("rank") == 1, columns=["posting_id", "run_id"]
    )
    return table.to_pandas()


def test_a_scheduled_run_skips_what_a_manual_run_already_coded(nightly, jobclass_env, tiny_bundle_path, tmp_path):  # noqa: F811
    engine = jobclass_env
    _promote(engine, tiny_bundle_path, "tiny-champion")
    _load(engine, "manual", 4, MANUAL_LOAD)
    manual = nightly.test(logical_date=None, run_after=MANUAL_RUN_AFTER, run_conf={"top_k": 2})
    assert str(manual.state) == "success", _task_states(manual)

    _load(engine, "late", 3, LATE_LOAD)
    scheduled = _fresh_dag(NIGHTLY).test(logical_date=SCHEDULED, run_conf={"top_k": 2})
    assert str(scheduled.state) == "success", _task_states(scheduled)
    assert scheduled.data_interval_start == datetime(2024, 3, 4, 2, 0, tzinfo=UTC)

    _load(engine, "next", 2, NEXT_LOAD)
    after = _fresh_dag(NIGHTLY).test(logical_date=None, run_after=NEXT_RUN_AFTER, run_conf={"top_k": 2})
    assert str(after.state) == "success", _task_states(after)

    # every run reconciles: read = predicted + rejected + skipped
    assert _runs(engine) == [
        ("2024-03-04T05:00:00.000000Z", "2024-03-04T12:00:00.000000Z", 4, 4, 0, 0, "success"),
        ("2024-03-04T02:00:00.000000Z", "2024-03-05T02:00:00.000000Z", 7, 3, 0, 4, "success"),
        ("2024-03-05T02:00:00.000000Z", "2024-03-05T09:00:00.000000Z", 2, 2, 0, 0, "success"),
    ]
    expected = sorted([f"manual-{i}" for i in range(4)] + [f"late-{i}" for i in range(3)] + [f"next-{i}" for i in range(2)])
    with engine.connect() as conn:
        top1 = conn.execute(sa.text("SELECT posting_id FROM predictions WHERE rank = 1 ORDER BY posting_id")).scalars().all()
        ranks = conn.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one()
    assert top1 == expected  # each posting once, the manual run's rows kept (not replaced)
    assert ranks == 2 * len(expected)

    parquet = _parquet_top1(tmp_path / "home")
    assert sorted(parquet["posting_id"]) == expected  # no posting in two parts of one dt= partition
    assert parquet.groupby("posting_id")["run_id"].nunique().max() == 1

    # the drift baseline of the last run: its trailing runs' postings, each once
    from jobclass.store.run_stats import baseline_run_ids

    with engine.connect() as conn:
        last = dict(conn.execute(sa.text("SELECT * FROM prediction_runs ORDER BY started_at DESC")).mappings().first())
        baseline = baseline_run_ids(conn, last)
        counted = conn.execute(
            sa.text("SELECT posting_id FROM predictions WHERE rank = 1 AND run_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": baseline},
        ).scalars().all()
        predicted = conn.execute(
            sa.text("SELECT SUM(rows_predicted) FROM prediction_runs WHERE run_id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": baseline},
        ).scalar_one()
    assert len(baseline) == 2
    assert sorted(counted) == [p for p in expected if not p.startswith("next")]  # the 7 postings, each once
    assert predicted == 7  # the runs' own counts do not count the manual run's postings again


def test_a_rerun_of_a_scheduled_interval_still_replaces_its_own_rows(nightly, jobclass_env, tiny_bundle_path):  # noqa: F811
    """Skipping what other runs coded leaves a run's own postings alone: re-running the same
    scheduled interval (Clear in the UI) recomputes and replaces its rows, never skips them."""
    engine = jobclass_env
    _promote(engine, tiny_bundle_path, "tiny-champion")
    _load(engine, "late", 3, LATE_LOAD)
    first = nightly.test(logical_date=SCHEDULED, run_conf={"top_k": 2})
    assert str(first.state) == "success", _task_states(first)
    again = _fresh_dag(NIGHTLY).test(logical_date=SCHEDULED, run_conf={"top_k": 2})
    assert str(again.state) == "success", _task_states(again)
    assert _runs(engine) == [("2024-03-04T02:00:00.000000Z", "2024-03-05T02:00:00.000000Z", 3, 3, 0, 0, "success")]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM predictions WHERE rank = 1")).scalar_one() == 3
