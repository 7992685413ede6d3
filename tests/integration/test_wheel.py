"""The package as a user installs it: a wheel built from the repository, in a fresh virtualenv."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_can_init_the_database(tmp_path):
    wheels = tmp_path / "wheels"
    # The build uses this environment's setuptools (no index needed): what `pip wheel .` builds.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True, cwd=tmp_path, timeout=600,
    )
    (wheel,) = wheels.glob("jobclass-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "jobclass/store/schema.sql" in names
    assert any(n.startswith("jobclass/resources/onet/") for n in names)
    assert not any(n.startswith(("tests/", "dags/", "benchmarks/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    # The wheel, unpacked into the fresh venv, is the only jobclass there; its dependencies come from
    # this environment's site-packages, added after it (a plain path, so the editable checkout's
    # finder is not loaded).
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    database = tmp_path / "elsewhere" / "jobclass.db"
    database.parent.mkdir()
    run = subprocess.run(
        [python, "-c", "import sys, jobclass; from jobclass.cli import main; print(jobclass.__file__); sys.exit(main())",
         "db", "init", "--database-url", f"sqlite:///{database}"],
        capture_output=True, text=True, cwd=database.parent, timeout=300,
        env={"PATH": "/usr/bin:/bin", "JOBCLASS_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.splitlines()[0].startswith(str(site)), "the wheel's jobclass ran, not the checkout"
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"job_postings", "predictions", "prediction_runs", "model_versions", "posting_labels"} <= tables
