"""Registers the jobclass HTTP API (``jobclass.airflow.api``) with the Airflow API server at ``/jobclass``.

The app, its authentication, models and routes live in ``jobclass.airflow.api``; this file only registers.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

from jobclass.airflow.api.app import create_app
from jobclass.airflow.api.views import external_views as jobclass_views


class JobclassApiPlugin(AirflowPlugin):
    """Registers the jobclass API with the Airflow API server."""

    name = "jobclass_api"
    fastapi_apps = [
        {
            "app": create_app(),
            "url_prefix": os.environ.get("JOBCLASS_API_PREFIX", "/jobclass"),
            "name": "jobclass API",
        }
    ]
    external_views = jobclass_views(os.environ.get("JOBCLASS_API_PREFIX", "/jobclass"))
