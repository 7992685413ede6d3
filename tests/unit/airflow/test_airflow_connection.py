"""jobclass.airflow.connection: the one path from the ``jobclass_db`` Connection to a URL."""

from __future__ import annotations

import json
import logging

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest

from jobclass.airflow.connection import CONN_ID, database_url

PASSWORD = "s3cret-Never-Logged"


def test_the_connection_becomes_a_url_and_its_log_line_masks_the_password(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="jobclass.airflow")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", f"postgresql://jc:{PASSWORD}@db.example:5433/jobclass")
    assert database_url() == f"postgresql+psycopg://jc:{PASSWORD}@db.example:5433/jobclass"
    assert "postgresql+psycopg://jc:***@db.example:5433/jobclass" in caplog.text and PASSWORD not in caplog.text


def test_without_the_connection_the_default_database_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    monkeypatch.setenv("JOBCLASS_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert database_url() == f"sqlite:///{tmp_path / 'x.db'}"


def test_an_unsupported_connection_is_a_value_error(monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "mysql", "host": "h"}))
    with pytest.raises(ValueError, match="supports postgres and sqlite"):
        database_url()
