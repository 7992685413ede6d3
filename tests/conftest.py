"""Shared fixtures: a tiny real model, and a throw-away database on SQLite and PostgreSQL.

``scripts/test.sh`` runs the suite on pytest-xdist workers, one test file per worker at a time
(``--dist loadfile``). The tiny model and the ONNX export cache are built once for the whole run and
shared by the workers (a file lock guards the build); every database, Airflow home and port stays
per worker or per test. Each worker keeps torch's default thread count, as one process would.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSTGRES_ADMIN_URL = os.environ.get("JOBCLASS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


POSTGRES_UP = postgres_reachable()
if os.environ.get("CI") and not POSTGRES_UP:
    raise RuntimeError(f"CI must exercise PostgreSQL, but {POSTGRES_ADMIN_URL} is unreachable.")


def shared_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder every worker of this run sees (the run's base temp dir under xdist), made once."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(autouse=True, scope="session")
def _jobclass_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep every test's runtime data out of the checkout's data/ directory."""
    home = tmp_path_factory.mktemp("jobclass_home")
    os.environ["JOBCLASS_HOME"] = str(home)
    # One ONNX export cache for the run, although some tests move JOBCLASS_HOME; exports are
    # published by an atomic rename, so workers can share it.
    os.environ["JOBCLASS_CACHE_DIR"] = str(shared_dir(tmp_path_factory, "jobclass_cache"))
    os.environ.pop("JOBCLASS_DATABASE_URL", None)
    return home


@pytest.fixture(scope="session")
def taxonomy():
    from jobclass.onet.taxonomy import load_taxonomy

    return load_taxonomy()


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory: pytest.TempPathFactory, taxonomy) -> Path:
    """A real (tiny) model bundle: MiniLM fine-tuned for a few steps, heads on a small corpus.

    Trained once per run: the first worker to need it trains it, the others wait and read it.
    Tests copy it before they change it."""
    from filelock import FileLock

    folder = shared_dir(tmp_path_factory, "tiny_model")
    built = folder / "bundle_path.txt"
    with FileLock(str(folder / ".lock")):
        if not built.is_file():
            from jobclass.model.bundle import save_bundle
            from jobclass.training.config import TrainConfig
            from jobclass.training.train import train_model

            classifier = train_model(TrainConfig.recipe("tiny"), taxonomy=taxonomy)
            path = folder / classifier.version
            save_bundle(classifier, path)
            built.write_text(str(path))
    return Path(built.read_text())


@pytest.fixture(scope="session")
def tiny_classifier(tiny_bundle_path: Path):
    from jobclass.model.bundle import load_bundle

    return load_bundle(tiny_bundle_path)


def _database_params() -> list:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=[pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_UP, reason="PostgreSQL unreachable")],
        ),
    ]


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database URL: a SQLite file, or a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobclass.db'}"
        return
    import sqlalchemy as sa

    name = f"jobclass_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str):
    """An engine on the fresh ``database_url`` with the jobclass schema."""
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    eng = make_engine(database_url)
    init_schema(eng)
    yield eng
    eng.dispose()
