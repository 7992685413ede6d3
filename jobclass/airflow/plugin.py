"""The jobclass Airflow plugin: mounts the HTTP API (``jobclass.airflow.api``) in the API server at ``/jobclass``.

Airflow finds it two ways:

- the ``airflow.plugins`` entry point of the installed package (``pyproject.toml``), so that
  ``pip install jobclass`` into an Airflow that already runs is enough;
- ``plugins/jobclass_api.py``, the repository's own plugins folder, which star-imports this module.

Airflow registers a plugin name once and reports the second copy as an import error, so the folder
copy exports the class only where no entry point registers it (``__all__`` below).
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points

from airflow.plugins_manager import AirflowPlugin

from jobclass.airflow.api.app import create_app
from jobclass.airflow.api.views import external_views as jobclass_views

PLUGIN_NAME = "jobclass_api"
ENTRY_POINT_GROUP = "airflow.plugins"


def _url_prefix() -> str:
    return os.environ.get("JOBCLASS_API_PREFIX", "/jobclass")


class JobclassApiPlugin(AirflowPlugin):
    """Registers the jobclass API and its views with the Airflow API server."""

    name = PLUGIN_NAME
    fastapi_apps = [{"app": create_app(), "url_prefix": _url_prefix(), "name": "jobclass API"}]
    external_views = jobclass_views(_url_prefix())


def registered_by_entry_point() -> bool:
    """Whether an installed distribution registers this class in the ``airflow.plugins`` group."""
    target = f"{__name__}:{JobclassApiPlugin.__qualname__}"
    return any(ep.value.replace(" ", "") == target for ep in entry_points(group=ENTRY_POINT_GROUP))


# What ``from jobclass.airflow.plugin import *`` (plugins/jobclass_api.py) hands to Airflow's plugins folder.
__all__ = [] if registered_by_entry_point() else ["JobclassApiPlugin"]
