"""Shared, import-light helpers for the jobclass DAGs (not a DAG file: see ``.airflowignore``).

Kept out of the DAG files so both DAGs resolve the database, log failures and name their assets the
same way. Nothing here imports torch, sentence-transformers or the heavy parts of ``jobclass``;
they are imported inside the tasks that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset

log = logging.getLogger("jobclass.airflow")

#: The Airflow Connection that holds the jobclass database (``AIRFLOW_CONN_JOBCLASS_DB``).
CONN_ID = "jobclass_db"

#: Updated by the nightly DAG after each interval is written (Parquet + SQL).
PREDICTIONS_ASSET = Asset(name="jobclass_predictions", uri="x-jobclass://predictions", group="jobclass")
#: Updated by the weekly retrain when a new champion is promoted.
MODEL_ASSET = Asset(name="jobclass_champion_model", uri="x-jobclass://models/champion", group="jobclass")

def connection_to_sqlalchemy_url(conn: Any) -> str:
    """The ``jobclass_db`` Connection as a SQLAlchemy URL (see ``jobclass.db.url_from_connection``)."""
    from jobclass.db import url_from_connection

    return url_from_connection(conn)


def safe_url(url: str) -> str:
    """The URL with any password masked, for logs."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never leak a malformed URL into logs
        return "<unparseable database URL>"


def database_url() -> str:
    """The jobclass database: the ``jobclass_db`` Connection, else the embedded SQLite default.

    Called inside tasks (it needs the task's execution context to read Connections).
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(CONN_ID)
    except AirflowNotFoundException:
        conn = None
    if conn is None:
        from jobclass.paths import default_database_url

        url = default_database_url()
        log.info("No %r Connection: using the embedded default database %s", CONN_ID, safe_url(url))
        return url
    url = connection_to_sqlalchemy_url(conn)
    log.info("jobclass database from Connection %r: %s", CONN_ID, safe_url(url))
    return url


def engine():
    """A SQLAlchemy engine on :func:`database_url` with the jobclass schema in place."""
    from jobclass.db import init_schema, make_engine

    eng = make_engine(database_url())
    init_schema(eng)
    return eng


@contextmanager
def fail_fast() -> Iterator[None]:
    """Fail the task at once, without its retries, when a retry would only fail the same way.

    ``jobclass.orchestration.is_permanent`` decides (no champion, a corrupt bundle, a run that does
    not reconcile, bad values, a bug); database and I/O errors propagate unchanged and are retried.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from jobclass.orchestration import is_permanent

    try:
        yield
    except Exception as exc:
        if not is_permanent(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {exc} (not retried: a retry would fail the same way)") from exc


def failed_tasks(ti: Any, dag_run: Any) -> list[str]:
    """The task ids (``task[map index]`` for mapped ones) that failed in this DAG run, sorted."""
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    return sorted(task for task, state in states.items() if state == "failed")


def log_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: one clear, greppable line with what failed and where to look."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exc = context.get("exception")
    log.error(
        "JOBCLASS FAILURE dag=%s task=%s map_index=%s run=%s try=%s interval=[%s, %s): %s: %s",
        getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        getattr(ti, "task_id", None),
        getattr(ti, "map_index", None),
        getattr(dag_run, "run_id", None) or context.get("run_id"),
        getattr(ti, "try_number", None),
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        type(exc).__name__ if exc is not None else "no exception",
        exc if exc is not None else context.get("reason", ""),
    )


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "jobclass",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": log_failure,
}
