"""The nightly DAG's steps, as plain functions over the library: no Airflow import here.

Each step takes an engine and plain values and returns a small JSON-serialisable dict, so the DAG
tasks stay a few lines each and the steps can be tested, or run by hand, without a scheduler.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from jobclass.pipeline.errors import NO_CHAMPION_HELP, NoChampionError, NothingToClassify, RunDidNotReconcile

log = logging.getLogger("jobclass.airflow")


#: The model_version recorded for a run that failed before its model was resolved.
NO_MODEL = "(none)"


def run_interval(engine, data_interval_start, data_interval_end, run_after) -> dict[str, str]:
    """The interval a nightly run classifies, as ``{"start", "end", "basis"}`` (ISO text, for XCom).

    A scheduled run (or one triggered with a logical date) has a data interval: that one. A run
    triggered without a logical date (UI, ``airflow dags trigger``, REST ``"logical_date": null``)
    has none: it classifies what was ingested since the end of the last successful run's interval
    up to its ``run_after`` (:func:`jobclass.store.runs.pending_interval`). Raises
    :class:`NothingToClassify` when that is empty.
    """
    from jobclass.store.engine import format_ts
    from jobclass.store.runs import pending_interval

    if data_interval_start is not None and data_interval_end is not None:
        start, end = format_ts(data_interval_start), format_ts(data_interval_end)
        interval = {"start": start, "end": end, "basis": "data interval"}
    else:
        interval = pending_interval(engine, run_after)
        if interval is None:
            message = (
                f"This run has no data interval (triggered without a logical date) and nothing was ingested "
                f"between the last successful run and its run_after {format_ts(run_after)}: nothing to classify."
            )
            log.warning(message)
            raise NothingToClassify(message)
    log.info("Interval of this run: [%s, %s) (%s)", interval["start"], interval["end"], interval["basis"])
    return interval


def resolve_champion(engine, *, bootstrap: bool) -> dict[str, str]:
    """The champion's version and bundle path; with none, bootstrap one (if allowed) or say what to run."""
    from jobclass.model.bundle import verify_bundle
    from jobclass.store.registry import get_champion

    champion = get_champion(engine)
    if champion is None:
        if not bootstrap:
            raise NoChampionError(NO_CHAMPION_HELP)
        champion = bootstrap_champion(engine)
    verify_bundle(champion.path)  # BundleError says what is wrong and what to do
    log.info("Champion model for this run: %s (%s)", champion.version, champion.path)
    return {"version": champion.version, "path": str(champion.path)}


def bootstrap_champion(engine):
    """Train, save, register and promote the light default model (clearly logged)."""
    from jobclass.model.bundle import save_bundle
    from jobclass.paths import models_dir
    from jobclass.store.registry import get_champion, promote, register_model
    from jobclass.training.train import bootstrap_model

    banner = "=" * 78
    log.warning(
        "%s\nBOOTSTRAP: no champion model is registered. Training the light default model now "
        "(base MiniLM, no fine-tuning; about 5 minutes on 2 CPU cores). Run `jobclass train` or the "
        "jobclass_weekly_retrain DAG for the full model.\n%s",
        banner,
        banner,
    )
    classifier = bootstrap_model()
    path = save_bundle(classifier, models_dir() / classifier.version)
    metadata = classifier.metadata
    register_model(
        engine,
        classifier.version,
        path,
        metadata.get("metrics", {}),
        metadata.get("benchmark_hash"),
        reason="bootstrap: first model",
    )
    current = get_champion(engine)
    if current is not None:  # another process bootstrapped meanwhile: keep theirs
        log.warning("BOOTSTRAP: %s became champion meanwhile; keeping it.", current.version)
        return current
    champion = promote(engine, classifier.version, reason="bootstrap: no champion was registered")
    log.warning("BOOTSTRAP: promoted %s to champion.", champion.version)
    return champion


def plan(engine, model: dict, start: datetime, end: datetime, *, chunk_size: int) -> list[dict]:
    """Chunks (id ranges) of the interval, and the run recorded as ``running``."""
    from jobclass.pipeline.interval import plan_chunks, start_run

    chunks = plan_chunks(engine, start, end, chunk_size)
    run_id = start_run(engine, start, end, model["version"], len(chunks))
    log.info(
        "Run %s: %d postings in %d chunks of <= %d", run_id, sum(c["rows"] for c in chunks), len(chunks), chunk_size
    )
    return chunks


class LazyClassifier:
    """Loads the bundle on the first prediction: a chunk already done is skipped without loading it."""

    def __init__(self, model: dict) -> None:
        self._model = model
        self._classifier = None

    @property
    def version(self) -> str:
        return self._model["version"]

    def _load(self):
        if self._classifier is None:
            from jobclass.model.bundle import load_bundle

            self._classifier = load_bundle(self._model["path"])
            if self._classifier.version != self.version:
                log.warning(
                    "Bundle %s was saved as %s and is registered as %s; rows carry the registered version.",
                    self._model["path"],
                    self._classifier.version,
                    self.version,
                )
        return self._classifier

    def predict_frame(self, frame, top_k: int = 5, **kwargs):
        return self._load().predict_frame(frame, top_k=top_k, **kwargs)


def predict_chunk(engine, model: dict, chunk: dict, start: datetime, end: datetime, *, top_k: int) -> dict:
    """The ``classify_chunk`` task: one chunk with the run's model and the coded-title memory as it
    stands; returns only counts (and its part's path)."""
    from jobclass.pipeline.interval import classify_chunk
    from jobclass.pipeline.memory import load_memory
    from jobclass.store.engine import with_db_retry

    # The reviewers' decisions so far: a key they decided is coded from memory (no retrain needed).
    # Read when the chunk is computed (a chunk already done is skipped without it).
    def memory():
        return with_db_retry(engine, "read the coded-title memory", load_memory, engine, model_version=model["version"])

    result = classify_chunk(
        engine, LazyClassifier(model), start, end, chunk, top_k=top_k, model_version=model["version"], memory=memory
    )
    return {
        k: result[k]
        for k in ("chunk", "rows_read", "predicted", "rejected", "already_coded", "skipped", "seconds", "part")
        if k in result
    }


def finish(engine, model: dict, start: datetime, end: datetime, results: list[dict]) -> dict:
    """Reconcile the run in ``prediction_runs``; a run that does not reconcile fails loudly."""
    from jobclass.pipeline.interval import finish_run, make_run_id

    run_id = make_run_id(start, end, model["version"])
    run = finish_run(engine, run_id)
    summary = {
        "run_id": run_id,
        "model_version": model["version"],
        "partition": run["partition_date"],
        "chunks": len(results),
        "chunks_skipped": sum(bool(r.get("skipped")) for r in results),
        "rows_read": run["rows_read"],
        "predicted": run["rows_predicted"],
        "rejected": run["rows_rejected"],
        "already_coded": run["rows_skipped"],
        "status": run["status"],
    }
    log.info("Run summary: %s", json.dumps(summary))
    if run["status"] != "success":
        raise RunDidNotReconcile(f"prediction run {run_id} did not reconcile: {run['detail']}")
    from jobclass.pipeline.run_report import warn_on_drift

    warn_on_drift(engine, run_id)  # PSI > 0.2 against the trailing 28 nights: a warning in this task's log
    return summary


def backlog(engine, model: dict, end: datetime | str, *, top_k: int, lookback_days: int, chunk_size: int = 2000) -> dict:
    """The ``recode_backlog`` task: re-run the earlier intervals (``lookback_days`` back from ``end``)
    holding pending postings whose title a reviewer decided since they were coded
    (:mod:`jobclass.pipeline.backlog`); returns the re-runs' ids and counts."""
    from jobclass.pipeline.backlog import recode_backlog

    if lookback_days <= 0:
        log.info("Backlog: off (backlog_days = 0)")
        return {"reruns": 0, "run_ids": []}
    summaries = recode_backlog(
        engine, LazyClassifier(model), end, lookback_days=lookback_days, top_k=top_k, chunk_size=chunk_size
    )
    failed = [s.run_id for s in summaries if s.status != "success"]
    if failed:
        raise RunDidNotReconcile(f"backlog re-runs did not reconcile: {', '.join(failed)}")
    return {"reruns": len(summaries), "run_ids": [s.run_id for s in summaries]}


def record_failure(engine, model: dict | None, start: datetime | str, end: datetime | str, reason: str) -> dict:
    """Mark the run ``failed`` in ``prediction_runs``, creating its row when it failed before it
    started, so a failed run always leaves its row and no partial run reads as a success. With
    no model resolved the row's model_version is :data:`NO_MODEL`."""
    from jobclass.pipeline.interval import fail_run

    version = model["version"] if model else NO_MODEL
    run = fail_run(engine, start, end, version, reason)
    log.error("Prediction run %s: %s (%s)", run["run_id"], run["status"], reason)
    return run


