"""Airflow under pytest: a throw-away AIRFLOW_HOME with a SQLite metadata database.

Import this module at the top of a test module, BEFORE anything imports ``airflow``: Airflow reads
its configuration once, at import time. The metadata database is migrated once per session (the
``airflow_db`` fixture). The repository's ``dags/`` and ``plugins/`` are Airflow's folders, and both
are put on ``sys.path`` as Airflow does for its own processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO / "dags"
PLUGINS_DIR = REPO / "plugins"

if "airflow" in sys.modules and not os.environ.get("_JOBCLASS_AIRFLOW_TEST_HOME"):
    raise RuntimeError("tests/airflow_fixtures.py must be imported before airflow is imported")

if not os.environ.get("_JOBCLASS_AIRFLOW_TEST_HOME"):
    _home = tempfile.mkdtemp(prefix="jobclass-airflow-home-")
    os.environ["_JOBCLASS_AIRFLOW_TEST_HOME"] = _home
    os.environ.update(
        {
            "AIRFLOW_HOME": _home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_home}/airflow.db",
            "AIRFLOW__API_AUTH__JWT_SECRET": "jobclass-tests-jwt-secret-" + "0123456789abcdef" * 4,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    os.environ.pop("AIRFLOW_CONN_JOBCLASS_DB", None)

for _path in (DAGS_DIR, PLUGINS_DIR):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Airflow sets up its logging when it is first imported: here, once, and not inside a test after
# caplog attached its handler (the jobclass code imports Airflow lazily, e.g. at the first request).
import airflow  # noqa: E402, F401


def _migrate() -> None:
    """``airflow db migrate`` once per AIRFLOW_HOME (a marker file records it)."""
    marker = Path(os.environ["AIRFLOW_HOME"]) / ".migrated"
    if marker.exists():
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    marker.touch()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite, in the session's AIRFLOW_HOME)."""
    _migrate()
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def airflow_connection_env(database_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_JOBCLASS_DB`` for a SQLAlchemy URL, in Airflow's JSON form."""
    import json

    import sqlalchemy as sa

    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = {"conn_type": "sqlite", "host": url.database}
    else:
        conn = {
            "conn_type": "postgres",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "password": url.password,
            "schema": url.database,
        }
    return {"AIRFLOW_CONN_JOBCLASS_DB": json.dumps({k: v for k, v in conn.items() if v is not None})}
