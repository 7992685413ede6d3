"""Paths and names (issue 16, item 5): retrain workdirs stay inside their parent and never collide,
re-saving a bundle keeps the old one until the new one is in place, and the prune keeps the champion,
the recent challengers and whatever a running prediction run reads, and logs what it deletes."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
from airflow_fixtures import DAGS_DIR, airflow_db  # noqa: F401  (fixtures)

DAY = 86400


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JOBCLASS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JOBCLASS_KEEP_CHALLENGERS", raising=False)
    monkeypatch.delenv("JOBCLASS_KEEP_WORKDIR_DAYS", raising=False)
    return tmp_path / "home"


# =========================================================================== retrain workdirs


@pytest.mark.parametrize("run_id", ["..", "../..", "../escape", "/etc", "a/../../b", ".", "", "~root", "a\x00b"])
def test_a_workdir_never_escapes_its_parent(home, run_id):
    from jobclass.paths import data_home
    from jobclass.pipeline.retrain import retrain_workdir

    path = retrain_workdir(run_id)
    assert path.parent == (data_home() / "retrain").resolve() and path.is_dir()
    assert path.name not in (".", "..") and not path.name.startswith(".")


def test_distinct_run_ids_get_distinct_workdirs(home):
    from jobclass.pipeline.retrain import retrain_workdir

    ids = ["a:b", "a+b", "a b", "a_b", "manual__2024-03-05T02:00:00+00:00", "manual__2024-03-05T02_00_00_00_00"]
    paths = {retrain_workdir(run_id) for run_id in ids}
    assert len(paths) == len(ids)
    assert retrain_workdir("a:b") == retrain_workdir("a:b")  # stable: every task of a run finds the same one
    assert retrain_workdir("scheduled__2024-03-05T02:00:00+00:00").name.startswith("scheduled__2024-03-05T02_00_00")


def test_a_workdir_planted_as_a_symlink_outside_is_refused(home, tmp_path):
    from jobclass.paths import data_home
    from jobclass.pipeline.retrain import retrain_workdir, safe_name

    (data_home() / "retrain").mkdir(parents=True, exist_ok=True)
    (data_home() / "retrain" / safe_name("run-1")).symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="outside"):
        retrain_workdir("run-1")


# =========================================================================== re-saving a bundle


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def test_a_save_that_fails_at_the_swap_keeps_the_old_bundle(tiny_classifier, tmp_path, monkeypatch):
    """The new bundle is complete, but moving it into place fails: the old one must still be there."""
    from jobclass.model import bundle

    target = bundle.save_bundle(tiny_classifier, tmp_path / "models" / "v1")
    before = bundle.verify_bundle(target)["files"]
    real_replace = os.replace

    def replace_failing_for_the_new_bundle(src, dst):
        if ".tmp-" in Path(src).name:
            raise OSError("disk full (injected)")
        return real_replace(src, dst)

    monkeypatch.setattr(bundle.os, "replace", replace_failing_for_the_new_bundle)
    with pytest.raises(OSError, match="injected"):
        bundle.save_bundle(tiny_classifier, target)

    assert bundle.verify_bundle(target)["files"] == before
    assert _siblings(target) == []  # no temporary or set-aside directory is left behind


class _UnwritableLabels:
    def to_csv(self, *args, **kwargs):
        raise OSError("no space left on device (injected)")


def test_a_save_that_fails_midway_keeps_the_old_bundle_and_leaves_nothing(tiny_classifier, tmp_path):
    from jobclass.model import bundle

    target = bundle.save_bundle(tiny_classifier, tmp_path / "models" / "v1")
    before = bundle.verify_bundle(target)["files"]
    broken = dataclasses.replace(tiny_classifier, labels=_UnwritableLabels())
    with pytest.raises(OSError, match="injected"):
        bundle.save_bundle(broken, target)
    assert bundle.verify_bundle(target)["files"] == before
    assert _siblings(target) == []


def test_resaving_replaces_the_bundle(tiny_classifier, tmp_path):
    from jobclass.model import bundle

    target = bundle.save_bundle(tiny_classifier, tmp_path / "v1")
    (target / "stale.txt").write_text("from the old bundle")
    bundle.save_bundle(tiny_classifier, target)
    bundle.verify_bundle(target)  # a stray file would fail verification
    assert not (target / "stale.txt").exists() and _siblings(target) == []


# =========================================================================== the prune


def _bundle_dir(path: Path) -> Path:
    """A stand-in bundle directory: the prune never reads a bundle, it only decides whether to delete it."""
    path.mkdir(parents=True)
    (path / "metadata.json").write_text("{}")
    return path


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    for p in [path, *path.iterdir()]:
        os.utime(p, (stamp, stamp))


@pytest.fixture
def registry_with_history(engine, home, monkeypatch, tmp_path):
    """v01 and v02 retired champions, v03..v08 challengers/rejected, v09 the champion, and v05 in use by
    a running prediction run; x-external lives outside the models directory."""
    from jobclass.paths import models_dir
    from jobclass.pipeline.interval import start_run
    from jobclass.store import registry

    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)  # stand-in bundles
    paths = {}
    for i in range(1, 10):
        version = f"v{i:02d}"
        paths[version] = _bundle_dir(models_dir() / version)
        registry.register_model(engine, version, paths[version], {}, None)
        if version in ("v01", "v02", "v09"):
            registry.promote(engine, version, "test")
        elif version in ("v04", "v06"):
            registry.record_decision(engine, version, "rejected", "worse")
    paths["x-external"] = _bundle_dir(tmp_path / "elsewhere" / "x-external")
    registry.register_model(engine, "x-external", paths["x-external"], {}, None)
    registry.record_decision(engine, "x-external", "rejected", "worse")
    start_run(engine, datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC), "v05", 1)
    return engine, paths


def test_the_prune_keeps_the_champion_recent_challengers_and_models_in_use(registry_with_history, caplog):
    from jobclass.pipeline.retention import prune_retention
    from jobclass.store.registry import get_champion

    engine, paths = registry_with_history
    # Registered oldest first: the 3 newest non-champion models are v07, v08 and x-external.
    with caplog.at_level(logging.INFO, logger="jobclass.airflow"):
        result = prune_retention(engine, keep=("v03",), keep_challengers=3, keep_days=14)

    pruned = {Path(p["path"]).name for p in result["pruned"]}
    assert pruned == {"v01", "v04", "v06"}
    for version, path in paths.items():
        assert path.exists() is (version not in pruned), version
    kept = result["kept"]
    assert kept["v09"] == "the champion" and "rollback" in kept["v02"] and "running prediction run" in kept["v05"]
    assert kept["v03"] == "this run's challenger" and "newest" in kept["v07"]
    assert get_champion(engine).version == "v09"
    for version in pruned:  # each deletion is logged with its path and why
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith(f"PRUNED {paths[version]}:"))
        assert f"bundle of {version}" in line and "not the champion" in line


def test_the_prune_reads_its_retention_from_the_environment(registry_with_history, monkeypatch):
    from jobclass.pipeline.retention import prune_retention

    engine, paths = registry_with_history
    monkeypatch.setenv("JOBCLASS_KEEP_CHALLENGERS", "10")  # more than the 9 there are: all kept
    assert prune_retention(engine)["pruned"] == []
    monkeypatch.setenv("JOBCLASS_KEEP_CHALLENGERS", "0")
    pruned = {Path(p["path"]).name for p in prune_retention(engine)["pruned"]}
    assert pruned == {"v01", "v03", "v04", "v06", "v07", "v08"}  # champion, rollback, in-use kept
    assert paths["x-external"].exists()  # outside the models directory: never touched
    monkeypatch.setenv("JOBCLASS_KEEP_CHALLENGERS", "three")
    with pytest.raises(ValueError, match="JOBCLASS_KEEP_CHALLENGERS"):
        prune_retention(engine)


def test_the_prune_deletes_old_workdirs_and_interrupted_saves_only(engine, home, caplog):
    from jobclass.paths import models_dir
    from jobclass.pipeline.retention import prune_retention
    from jobclass.pipeline.retrain import retrain_workdir

    old, recent, current = retrain_workdir("old-run"), retrain_workdir("recent-run"), retrain_workdir("this-run")
    for path in (old, recent, current):
        (path / "evaluation.json").write_text("{}")
    for path, days in ((old, 30), (recent, 2), (current, 30)):
        _age(path, days)
    leftover = _bundle_dir(models_dir() / ".v1.tmp-0123456789ab")
    _age(leftover, 30)
    unregistered = _bundle_dir(models_dir() / "v-unregistered")  # a save whose registration is still to come
    _age(unregistered, 30)

    with caplog.at_level(logging.INFO, logger="jobclass.airflow"):
        result = prune_retention(engine, current_workdir=current, keep_days=14)

    assert {Path(p["path"]) for p in result["pruned"]} == {old, leftover}
    assert recent.is_dir() and current.is_dir() and unregistered.is_dir()
    assert any(f"PRUNED {old}: retrain workdir untouched for 30" in r.getMessage() for r in caplog.records)


def test_the_retrain_dag_prunes_in_a_teardown_after_the_report(dagbag):
    dag = dagbag.get_dag("jobclass_weekly_retrain")
    prune = dag.get_task("prune")
    assert prune.is_teardown and prune.upstream_task_ids == {"record_and_report"}
    assert not prune.on_failure_fail_dagrun  # a failed prune never hides, nor causes, a failed retrain


@pytest.fixture(scope="module")
def dagbag(airflow_db):  # noqa: F811
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / "weekly_retrain.py"))
