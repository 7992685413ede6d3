"""Manual runs of the nightly DAG (issue 16, item 2): ``dag.test()`` runs with no logical date.

A run triggered from the UI, with ``airflow dags trigger`` or through REST with
``"logical_date": null`` has no data interval. It classifies what was ingested since the end of
the last successful run's interval up to its ``run_after``; a failure a retry would repeat fails
at once, and a failed run always leaves its row in ``prediction_runs``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
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

FIRST_LOAD = datetime(2024, 3, 4, 5, 0, tzinfo=UTC)
FIRST_RUN_AFTER = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
SECOND_LOAD = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
SECOND_RUN_AFTER = datetime(2024, 3, 6, 0, 0, tzinfo=UTC)


def _load(engine, prefix: str, n: int, at: datetime) -> None:
    from itertools import islice

    from jobclass.paths import DEMO_POSTINGS
    from jobclass.pipeline.ingest import load_records
    from jobclass.postings.files import read_postings_file

    records = [{**r, "id": f"{prefix}-{i}"} for i, r in enumerate(islice(read_postings_file(DEMO_POSTINGS), n))]
    load_records(engine, records, source="usajobs", ingested_at=at)


def _runs(engine) -> list[dict]:
    query = sa.text(
        "SELECT interval_start, interval_end, model_version, rows_read, rows_predicted, rows_rejected, status, detail "
        "FROM prediction_runs ORDER BY interval_end"
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _tries(dag_run) -> dict[str, int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(
            sa.select(TaskInstance).where(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
        ).all()
        return {ti.task_id: ti.try_number for ti in tis if ti.map_index < 0}


def test_manual_runs_classify_what_came_since_the_last_success(nightly, jobclass_env, tiny_bundle_path, caplog):  # noqa: F811
    engine = jobclass_env
    _promote(engine, tiny_bundle_path, "tiny-champion")
    _load(engine, "first", 4, FIRST_LOAD)

    first = nightly.test(logical_date=None, run_after=FIRST_RUN_AFTER, run_conf={"chunk_size": 3, "top_k": 2})
    assert first.logical_date is None and first.data_interval_start is None
    assert str(first.state) == "success", _task_states(first)
    assert "Interval of this run: [2024-03-04T05:00:00.000000Z, 2024-03-05T12:00:00.000000Z)" in caplog.text
    assert "no successful run yet" in caplog.text

    _load(engine, "second", 3, SECOND_LOAD)
    second = _fresh_dag(NIGHTLY).test(logical_date=None, run_after=SECOND_RUN_AFTER, run_conf={"top_k": 2})
    assert str(second.state) == "success", _task_states(second)
    assert "since the end of the last successful run" in caplog.text

    runs = _runs(engine)
    assert [(r["interval_start"], r["interval_end"], r["rows_read"], r["status"]) for r in runs] == [
        ("2024-03-04T05:00:00.000000Z", "2024-03-05T12:00:00.000000Z", 4, "success"),
        ("2024-03-05T12:00:00.000000Z", "2024-03-06T00:00:00.000000Z", 3, "success"),
    ]
    with engine.connect() as conn:
        per_posting = conn.execute(
            sa.text("SELECT posting_id, COUNT(*) FROM predictions WHERE rank = 1 GROUP BY posting_id")
        ).all()
    assert sorted(per_posting) == sorted([(f"first-{i}", 1) for i in range(4)] + [(f"second-{i}", 1) for i in range(3)])


def test_a_manual_run_with_nothing_to_classify_is_skipped(nightly, jobclass_env, caplog):  # noqa: F811
    run = nightly.test(logical_date=None, run_after=FIRST_RUN_AFTER)  # no postings, no champion, bootstrap on
    states = _task_states(run)
    assert str(run.state) == "success", states
    assert states["resolve_interval"] == "skipped" and states["resolve_model"] == "skipped"  # no bootstrap
    assert states["finish_run"] == "skipped" and states["record_failure"] == "skipped"
    assert "nothing to classify" in caplog.text
    assert _runs(jobclass_env) == []


def test_a_failed_manual_run_fails_at_once_and_leaves_its_row(nightly, jobclass_env, caplog):  # noqa: F811
    _load(jobclass_env, "first", 3, FIRST_LOAD)
    run = nightly.test(logical_date=None, run_after=FIRST_RUN_AFTER, run_conf={"bootstrap_if_no_champion": False})
    states = _task_states(run)
    assert str(run.state) == "failed", states
    assert states["resolve_model"] == "failed" and states["record_failure"] == "success"
    assert _tries(run)["resolve_model"] == 1  # not retried: no champion stays no champion
    assert "jobclass train" in caplog.text

    [row] = _runs(jobclass_env)
    assert (row["interval_start"], row["interval_end"]) == (
        "2024-03-04T05:00:00.000000Z",
        "2024-03-05T12:00:00.000000Z",
    )
    assert row["status"] == "failed" and row["model_version"] == "(none)"
    assert "resolve_model" in row["detail"]


def test_fail_fast_fails_an_error_that_would_repeat_and_lets_a_transient_one_retry(airflow_db):  # noqa: F811
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from jobclass.airflow.tasks import fail_fast
    from jobclass.model.bundle import BundleError
    from jobclass.pipeline.errors import NoChampionError, RunDidNotReconcile
    from jobclass.store.engine import DatabaseUnavailable

    for permanent in (
        NoChampionError("no champion"),
        BundleError("corrupt"),
        RunDidNotReconcile("read 3 != 2 + 0"),
        AttributeError("'NoneType' object has no attribute 'isoformat'"),
        ValueError("bad value"),
    ):
        with pytest.raises(AirflowFailException, match="not retried"), fail_fast():
            raise permanent
    for passing in (DatabaseUnavailable("database down"), OSError("disk"), AirflowSkipException("nothing")):
        with pytest.raises(type(passing)), fail_fast():
            raise passing
