"""Where jobclass reads its shipped resources and keeps its runtime data."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
ONET_DIR = RESOURCES_DIR / "onet"
DEMO_POSTINGS = RESOURCES_DIR / "postings" / "usajobs_2016_2021.jsonl.gz"


def project_root() -> Path:
    """The checkout that holds the package (the parent of ``jobclass/``)."""
    return PACKAGE_DIR.parent


def data_home() -> Path:
    """Runtime data: the SQLite database, model bundles, Parquet output.

    ``JOBCLASS_HOME`` overrides the default ``<project>/data``.
    """
    home = Path(os.environ.get("JOBCLASS_HOME") or project_root() / "data")
    home.mkdir(parents=True, exist_ok=True)
    return home


def models_dir() -> Path:
    path = data_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Derived files that can be rebuilt (ONNX exports): ``JOBCLASS_CACHE_DIR``, else ``<data home>/cache``."""
    override = os.environ.get("JOBCLASS_CACHE_DIR")
    return Path(override) if override else data_home() / "cache"


def predictions_dir() -> Path:
    return data_home() / "predictions"


def default_database_url() -> str:
    """``JOBCLASS_DATABASE_URL`` or the embedded SQLite file under the data home."""
    return os.environ.get("JOBCLASS_DATABASE_URL") or f"sqlite:///{data_home() / 'jobclass.db'}"
