"""From an Airflow DAG run to the jobclass prediction run it made: the one mapping that the review
queue's "Review this run" tab and the "Run report" tab share.

A nightly DAG run's interval is its ``resolve_interval`` task's XCom (a run with no logical date
resolves its own), else its data interval; its prediction run is the newest one of that interval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

INTERVAL_TASK_ID = "resolve_interval"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def dag_run_interval(dag_id: str, dag_run_id: str) -> dict[str, str] | None:
    """The interval a DAG run classifies: its ``resolve_interval`` XCom (a run with no logical date
    resolves its own), else its data interval; None when neither is known (yet)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run_id, key="return_value", task_ids=INTERVAL_TASK_ID, dag_ids=dag_id, limit=1
        )
        xcom = session.scalars(query).first()
        value = XComModel.deserialize_value(xcom) if xcom is not None else None
        if isinstance(value, dict) and value.get("start") and value.get("end"):
            return {"start": str(value["start"]), "end": str(value["end"])}
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == dag_run_id)).first()
        if run is None or run.data_interval_start is None or run.data_interval_end is None:
            return None
        return {"start": _iso(run.data_interval_start), "end": _iso(run.data_interval_end)}


def prediction_run_of(engine: Any, dag_id: str, dag_run_id: str) -> str | None:
    """The run_id of the newest prediction run of the DAG run's interval, or None (not resolved yet)."""
    from jobclass.store.run_stats import latest_run_of_interval

    interval = dag_run_interval(dag_id, dag_run_id)
    if interval is None:
        return None
    run = latest_run_of_interval(engine, interval["start"], interval["end"])
    return run["run_id"] if run else None
