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


def running_from_checkout() -> bool:
    """Whether the package is a source checkout's ``jobclass/`` (an editable install), not an installed copy."""
    return (project_root() / "pyproject.toml").is_file()


def default_data_home() -> Path:
    """Where the data lives without ``JOBCLASS_HOME``: ``<checkout>/data`` when running from a checkout,
    else ``$XDG_DATA_HOME/jobclass`` (``~/.local/share/jobclass``), never inside the installed package."""
    if running_from_checkout():
        return project_root() / "data"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"  # the XDG rule: absolute only
    return base / "jobclass"


def data_home() -> Path:
    """Runtime data: the SQLite database, model bundles, Parquet output.

    ``JOBCLASS_HOME`` overrides :func:`default_data_home`.
    """
    home = Path(os.environ.get("JOBCLASS_HOME") or default_data_home())
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
