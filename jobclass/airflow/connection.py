"""The jobclass database as Airflow sees it: the ``jobclass_db`` Connection, else the embedded default.

The one path from Airflow to the database, for the DAG tasks and the API plugin alike:
``Connection.get(CONN_ID)`` (the Task SDK's lookup, which reads the task's Connections through the
execution API in a worker and the secrets backends and metastore in the API server) ->
:func:`jobclass.store.engine.url_from_connection` -> :func:`jobclass.store.engine.make_engine`.
"""

from __future__ import annotations

import logging

log = logging.getLogger("jobclass.airflow")

#: The Airflow Connection that holds the jobclass database (``AIRFLOW_CONN_JOBCLASS_DB``).
CONN_ID = "jobclass_db"


def database_url() -> str:
    """The ``jobclass_db`` Connection as a SQLAlchemy URL, else ``jobclass.paths.default_database_url()``.

    A Connection that does not give a valid URL is a ``ValueError`` that names the Connection,
    never the URL (which may hold the password).
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from jobclass.store.engine import masked_url, url_from_connection

    try:
        conn = Connection.get(CONN_ID)
    except AirflowNotFoundException:
        conn = None
    if conn is None:
        from jobclass.paths import default_database_url

        url, source = default_database_url(), f"no {CONN_ID!r} Connection: JOBCLASS_DATABASE_URL or the embedded SQLite default"
    else:
        url, source = url_from_connection(conn), f"the {CONN_ID!r} Connection"
    try:
        shown = masked_url(url)
    except Exception:  # sqlalchemy's parse error quotes the whole URL, password included
        raise ValueError(f"{source} does not give a valid SQLAlchemy URL") from None
    log.info("jobclass database from %s: %s", source, shown)
    return url


def engine():
    """A SQLAlchemy engine on :func:`database_url` with the jobclass schema in place (idempotent)."""
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    eng = make_engine(database_url())
    init_schema(eng)
    return eng
