"""Shared, import-light helpers for the jobclass DAGs (not a DAG file: see ``.airflowignore``).

Kept out of the DAG files so both DAGs resolve the database, log failures and name their assets the
same way. Nothing here imports torch, sentence-transformers or the heavy parts of ``jobclass``;
they are imported inside the tasks that need them.
"""

from __future__ import annotations

import logging
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

_SQLALCHEMY_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
}


def connection_to_sqlalchemy_url(conn: Any) -> str:
    """Turn an Airflow Connection into a SQLAlchemy 2 URL string.

    Supported: ``postgres`` (psycopg 3 driver; ``extra`` keys such as ``sslmode`` become query
    parameters) and ``sqlite`` (the file path in ``host``, or in ``schema``). An explicit
    ``extra["sqlalchemy_url"]`` wins over the fields.
    """
    import sqlalchemy as sa

    extra = dict(getattr(conn, "extra_dejson", None) or {})
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = (conn.conn_type or "").lower().replace("_", "-")
    driver = _SQLALCHEMY_DRIVERS.get(conn_type)
    if driver is None:
        raise ValueError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}; jobclass supports postgres and sqlite "
            "(or set extra.sqlalchemy_url)."
        )
    if driver == "sqlite":
        path = conn.host or conn.schema or ""
        if not path:
            raise ValueError(f"Connection {conn.conn_id!r} (sqlite) needs the database file path in host.")
        return f"sqlite:///{path}"
    query = {
        k: str(v)
        for k, v in extra.items()
        if k in {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options"}
    }
    url = sa.engine.URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=int(conn.port) if conn.port else None,
        database=conn.schema or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


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
