"""Retention: step 9 of the weekly retrain (a teardown), deleting bundles and workdirs no model needs.

What is kept, and why, is :func:`_protected_versions`; each deleted path is logged with its reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

from jobclass.pipeline.retrain import retrain_root

log = logging.getLogger("jobclass.airflow")

#: Registered non-champion bundles kept by the prune, newest first (``JOBCLASS_KEEP_CHALLENGERS``).
KEEP_CHALLENGERS = 3
#: Retrain workdirs (and interrupted bundle saves) older than this are pruned (``JOBCLASS_KEEP_WORKDIR_DAYS``).
KEEP_WORKDIR_DAYS = 14.0


def retention_settings() -> tuple[int, float]:
    """``(keep_challengers, keep_workdir_days)`` from the environment, else the defaults."""
    raw_keep = os.environ.get("JOBCLASS_KEEP_CHALLENGERS") or str(KEEP_CHALLENGERS)
    raw_days = os.environ.get("JOBCLASS_KEEP_WORKDIR_DAYS") or str(KEEP_WORKDIR_DAYS)
    try:
        keep, days = int(raw_keep), float(raw_days)
    except ValueError as exc:
        raise ValueError(
            f"JOBCLASS_KEEP_CHALLENGERS must be a whole number and JOBCLASS_KEEP_WORKDIR_DAYS a number of days, "
            f"not {raw_keep!r} / {raw_days!r}."
        ) from exc
    if keep < 0 or days < 0:
        raise ValueError("JOBCLASS_KEEP_CHALLENGERS and JOBCLASS_KEEP_WORKDIR_DAYS must not be negative.")
    return keep, days


def _protected_versions(engine, models: list, keep_challengers: int, keep: set[str]) -> dict[str, str]:
    """Version -> why its bundle stays: the champion, the newest challengers, the last retired champion
    (the rollback target, and what a nightly that resolved it just before a promotion still loads), any
    model a running prediction run uses, and ``keep``."""
    why: dict[str, str] = {}
    for model in models:
        if model.status == "champion":
            why[model.version] = "the champion"
    others = [m for m in models if m.status != "champion"]  # list_models: oldest first
    for model in others[-keep_challengers:] if keep_challengers else []:
        why.setdefault(model.version, f"one of the {keep_challengers} newest non-champion models")
    retired = sorted(
        (m for m in models if m.status == "retired" and m.promoted_at), key=lambda m: (m.promoted_at, m.created_at)
    )
    if retired:
        why.setdefault(retired[-1].version, "the last retired champion (rollback target)")
    from jobclass.store.runs import running_model_versions

    for version in running_model_versions(engine):
        why.setdefault(version, "used by a running prediction run")
    for version in keep:
        why.setdefault(version, "this run's challenger")
    return why


def _age_days(path: Path, now: float) -> float:
    """Days since anything directly in ``path`` (or ``path`` itself) last changed."""
    stamps = [path.stat().st_mtime]
    for child in path.iterdir():
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile: then the directory changed too
            stamps.append(child.lstat().st_mtime)
    return (now - max(stamps)) / 86400


def prune_retention(
    engine,
    *,
    keep: tuple[str, ...] = (),
    current_workdir: Path | None = None,
    keep_challengers: int | None = None,
    keep_days: float | None = None,
) -> dict:
    """Step 9: delete what no model needs any more, and log each path with why.

    Bundles of registered models under the models directory that no rule of
    :func:`_protected_versions` keeps; retrain workdirs, and hidden leftovers of interrupted
    bundle saves, older than ``keep_days``. A bundle outside the models directory (``--output``) or
    shared with a kept model is never touched. Settings default to :func:`retention_settings`.
    """
    from jobclass.paths import models_dir
    from jobclass.store.registry import list_models

    default_keep, default_days = retention_settings()
    keep_challengers = default_keep if keep_challengers is None else keep_challengers
    keep_days = default_days if keep_days is None else keep_days
    models = list_models(engine)
    protected = _protected_versions(engine, models, keep_challengers, set(keep))
    root = models_dir().resolve()
    kept_paths = {Path(m.path).resolve() for m in models if m.version in protected}
    pruned: list[dict[str, str]] = []

    def remove(path: Path, why: str) -> None:
        shutil.rmtree(path)
        log.warning("PRUNED %s: %s", path, why)
        pruned.append({"path": str(path), "why": why})

    for model in models:
        path = Path(model.path).resolve()
        if model.version in protected or path in kept_paths or path.parent != root or not path.is_dir():
            continue
        remove(
            path,
            f"bundle of {model.version} ({model.status}, registered {model.created_at}): not the champion, not among "
            f"the {keep_challengers} newest non-champion models, not the rollback target, not in use",
        )
    now = time.time()
    leftovers = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".") and ".tmp-" in p.name]
    workdirs = [p for p in retrain_root().iterdir() if p.is_dir()] if retrain_root().is_dir() else []
    current = current_workdir.resolve() if current_workdir else None
    for path in leftovers + workdirs:
        if path.resolve() == current or path.is_symlink():
            continue
        age = _age_days(path, now)
        if age > keep_days:
            kind = "interrupted bundle save" if path in leftovers else "retrain workdir"
            remove(path, f"{kind} untouched for {age:.1f} days (> {keep_days:g})")
    log.info(
        "Retention: %d path(s) pruned; kept %s",
        len(pruned),
        ", ".join(f"{version} ({why})" for version, why in sorted(protected.items())) or "no registered model",
    )
    return {"pruned": pruned, "kept": protected}
