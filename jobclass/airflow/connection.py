"""The jobclass database as Airflow sees it: the ``jobclass_db`` Connection, else the embedded default.

Every Airflow caller (the DAG tasks and the plugin) gets its engine here.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("jobclass.airflow")

#: The Airflow Connection that holds the jobclass database (``AIRFLOW_CONN_JOBCLASS_DB``).
CONN_ID = "jobclass_db"


def connection_to_sqlalchemy_url(conn: Any) -> str:
    """The ``jobclass_db`` Connection as a SQLAlchemy URL (see ``jobclass.store.db.url_from_connection``)."""
    from jobclass.store.db import url_from_connection

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
    from jobclass.store.db import init_schema, make_engine

    eng = make_engine(database_url())
    init_schema(eng)
    return eng
