"""The interval pipeline: read postings ingested in [start, end), validate, predict, write.

Orchestration over :mod:`jobclass.store` (postings, predictions, runs), :mod:`jobclass.pipeline.validation`
and :mod:`jobclass.pipeline.parquet_sink`. The same three steps serve the CLI and the Airflow DAG::

    chunks = plan_chunks(engine, start, end, chunk_size)        # id ranges, JSON-serialisable
    run_id = start_run(engine, start, end, model_version, len(chunks))
    for chunk in chunks:                                         # or one mapped task each
        classify_chunk(engine, classifier, start, end, chunk, model_version=model_version)
    finish_run(engine, run_id)                                   # reconcile read = predicted + rejected + skipped

A posting is coded once per model version. A run triggered by hand (no data interval) codes what
came since the last successful run; the next scheduled run's interval can cover the same postings.
It skips those another run of its model version already predicted or rejected (``rows_skipped``):
no posting twice in SQL, in the Parquet partitions or in the drift baseline. A new model version
codes every posting again (its rows sit beside the old version's).

Determinism: ``run_id`` is ``<start>/<end>/<model version>``, ``predicted_at`` is the interval
end and the partition is the interval start's date, so re-running an interval rewrites the same
rows and the same Parquet bytes. A chunk whose output is complete is skipped unless ``force``.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sqlalchemy.engine import Engine

from jobclass.memory.apply import MEMORY_COLUMNS, FittedMemory, apply_memory
from jobclass.model.classifier import PREDICTION_COLUMNS
from jobclass.paths import predictions_dir
from jobclass.pipeline.memory import keys_of, near_keys_of
from jobclass.pipeline.parquet_sink import (
    partition_day,
    partition_dir,
    read_parquet_metadata,
    stamp_predictions,
    write_parquet_partition,
)
from jobclass.pipeline.review import title_of
from jobclass.pipeline.validation import NO_PREDICTION, REJECT_COLUMNS, validate_postings
from jobclass.store import runs as run_store
from jobclass.store.engine import TimeLike, format_ts, to_utc, utc_now, with_db_retry
from jobclass.store.labels import current_labels
from jobclass.store.postings import chunk_starts, read_posting_range, settle_ingest
from jobclass.store.predictions import write_chunk_sql

log = logging.getLogger(__name__)


class Classifier(Protocol):
    """What the pipeline needs of a model (``jobclass.model.classifier.JobClassifier`` is one)."""

    @property
    def version(self) -> str: ...

    def predict_frame(self, frame: pd.DataFrame, top_k: int = 5, batch_size: int = 64) -> pd.DataFrame: ...


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    interval_start: str
    interval_end: str
    model_version: str
    partition_date: str
    chunks: int
    chunks_skipped: int
    rows_read: int
    rows_predicted: int
    rows_rejected: int
    status: str  # success | mismatch | failed
    detail: str | None
    duration_s: float
    out_dir: str
    rows_skipped: int = 0  # coded by another run of the same model version (a manual run)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- memory -----------------------------------------------------------------------------------
_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
MMAP_THRESHOLD_BYTES = 1 << 20
_heap_tuned = False


def bound_heap_growth() -> bool:
    """Serve allocations of 1 MiB and more from mmap, so they go back to the OS when freed (glibc).

    glibc raises its mmap threshold each time a large block is freed; the scorer's big temporaries
    then come from the heap and fragment it, and RSS creeps up chunk after chunk (measured: peak
    RSS +16% over 20 chunks; flat with a fixed threshold, see benchmarks/RESULTS.md). Applied once
    per process; skipped off glibc, or when MALLOC_MMAP_THRESHOLD_ is already set.
    """
    global _heap_tuned
    if _heap_tuned or not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return _heap_tuned
    try:
        _heap_tuned = bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        _heap_tuned = False
    return _heap_tuned


# -- identities -------------------------------------------------------------------------------
def make_run_id(start: TimeLike, end: TimeLike, model_version: str) -> str:
    """``2026-11-25T00:00:00+00:00/2026-11-26T00:00:00+00:00/<model version>``."""
    return f"{to_utc(start).isoformat()}/{to_utc(end).isoformat()}/{model_version}"


def run_key(run_id: str) -> str:
    """A short stable hash of the run id, for file names."""
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:12]


def part_name(run_id: str, index: int) -> str:
    return f"part-{run_key(run_id)}-{index:05d}"


_PART = re.compile(r"^part-(?P<key>[0-9a-f]{12})-(?P<index>\d{5})\.parquet$")


# -- planning ---------------------------------------------------------------------------------
def plan_chunks(engine: Engine, start: TimeLike, end: TimeLike, chunk_size: int = 1000) -> list[dict[str, Any]]:
    """Split the interval into id ranges of ``chunk_size`` postings.

    Each chunk is ``{"index", "id_from", "id_to", "rows"}`` with ``id_from <= id < id_to``; the
    first range is open below and the last open above, so together they cover every id. Loads
    in flight commit first (:func:`jobclass.store.postings.settle_ingest`): a batch that commits later
    is stamped after ``end``, so the plan is the interval's final content.
    """
    with_db_retry(engine, "plan chunks: wait for loads in flight", settle_ingest, engine, end)
    starts, total = with_db_retry(engine, "plan chunks", chunk_starts, engine, start, end, chunk_size)
    return [
        {
            "index": i,
            "id_from": None if i == 0 else first,
            "id_to": starts[i + 1] if i + 1 < len(starts) else None,
            "rows": min(chunk_size, total - i * chunk_size),
        }
        for i, first in enumerate(starts)
    ]


# -- one chunk --------------------------------------------------------------------------------
def classify_frame(
    classifier: Classifier,
    frame: pd.DataFrame,
    *,
    top_k: int = 5,
    batch_size: int | None = None,
    memory: FittedMemory | None = None,
    decided: Collection[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate, predict, then apply the coded-title memory to a batch: (predictions with the
    model's columns, ``truncated`` and the memory's columns, rejects). The memory leaves the
    ``decided`` postings (those with a reviewer's decision) to the model.

    Every posting of ``frame`` is in exactly one of the two (a valid posting the model returns
    nothing for is rejected as ``no_prediction``; one whose key reviewers marked not codable, as
    ``remembered_not_codable``). ``truncated`` flags a posting whose title or body was cut at the
    length limit before the model saw it. Without ``memory`` every row is the model's.
    """
    valid, rejected = validate_postings(frame)
    if valid.empty:
        return pd.DataFrame(columns=[*PREDICTION_COLUMNS, "truncated", *MEMORY_COLUMNS]), rejected
    options = {"batch_size": batch_size} if batch_size else {}
    predictions = classifier.predict_frame(valid[["posting_id", "title", "body"]], top_k=top_k, **options)
    predictions = predictions[predictions["posting_id"].astype(str).isin(set(valid["posting_id"]))]
    was_cut = dict(zip(valid["posting_id"], valid["truncated"], strict=True))
    predictions = predictions.assign(truncated=predictions["posting_id"].astype(str).map(was_cut).astype(bool))
    missing = valid.loc[~valid["posting_id"].isin(set(predictions["posting_id"].astype(str))), "posting_id"]
    if len(missing):
        lost = pd.DataFrame(
            {"posting_id": missing, "reason_code": NO_PREDICTION, "detail": "the model returned no rows"}
        )
        rejected = pd.concat([rejected, lost[REJECT_COLUMNS]], ignore_index=True)
    predictions, remembered = apply_memory(
        predictions.reset_index(drop=True), keys_of(valid), memory, title_of(), decided, near_keys_of(valid)
    )
    if len(remembered):
        rejected = pd.concat([rejected, remembered[REJECT_COLUMNS]], ignore_index=True)
    return predictions.reset_index(drop=True), rejected


def _chunk_identity(run_id: str, model_version: str, chunk: dict[str, Any], top_k: int) -> dict[str, str]:
    return {
        "jobclass.run_id": run_id,
        "jobclass.model_version": model_version,
        "jobclass.chunk_index": str(chunk["index"]),
        "jobclass.id_from": chunk.get("id_from") or "",
        "jobclass.id_to": chunk.get("id_to") or "",
        "jobclass.top_k": str(top_k),
    }


def _completed(path: Path, identity: dict[str, str], db_counts: dict[str, int]) -> bool:
    """The part exists, was written for this very chunk, and the database still holds its rows."""
    if not path.is_file():
        return False
    meta = read_parquet_metadata(path)
    if any(meta.get(k) != v for k, v in identity.items()):
        return False
    written = {k: int(meta.get(f"jobclass.{k}", -1)) for k in db_counts}
    done = db_counts["predicted"] + db_counts["rejected"] + db_counts.get("already_coded", 0)
    return written == db_counts and db_counts["rows_read"] == done


def classify_chunk(
    engine: Engine,
    classifier: Classifier,
    start: TimeLike,
    end: TimeLike,
    chunk: dict[str, Any],
    *,
    top_k: int = 5,
    out_dir: str | Path | None = None,
    model_version: str | None = None,
    batch_size: int | None = None,
    force: bool = False,
    memory: FittedMemory | Callable[[], FittedMemory] | None = None,
) -> dict[str, Any]:
    """Classify one planned chunk: its SQL rows (one transaction) then its Parquet part; with
    ``memory`` (or a function that reads it, called only when the chunk is computed), postings whose
    key reviewers decided are coded from it (:func:`classify_frame`).

    Idempotent: the rows and the part are replaced, never appended. When the part already exists
    for this chunk and the database agrees with it, nothing is recomputed (``skipped``) unless
    ``force``. Returns a small JSON-serialisable summary.
    """
    t0 = time.perf_counter()
    bound_heap_growth()
    model_version = model_version or classifier.version
    run_id = make_run_id(start, end, model_version)
    out_dir = Path(out_dir) if out_dir is not None else predictions_dir()
    day = partition_day(start)
    name = part_name(run_id, chunk["index"])
    path = partition_dir(out_dir, day) / f"{name}.parquet"
    identity = _chunk_identity(run_id, model_version, chunk, top_k)
    summary = {"run_id": run_id, "chunk": chunk["index"], "part": str(path)}

    if not force:
        counts = with_db_retry(
            engine, f"chunk {chunk['index']}: check", run_store.chunk_counts, engine, start, end, run_id, chunk
        )
        if _completed(path, identity, counts):
            log.info("chunk %d of %s already done: skipped", chunk["index"], run_id)
            return {**summary, **counts, "skipped": True, "seconds": round(time.perf_counter() - t0, 3)}

    if callable(memory):
        memory = memory()
    bounds = (chunk.get("id_from"), chunk.get("id_to"))
    frame = with_db_retry(engine, f"chunk {chunk['index']}: read", read_posting_range, engine, start, end, *bounds)
    coded = with_db_retry(
        engine, f"chunk {chunk['index']}: coded elsewhere", run_store.coded_by_other_runs,
        engine, run_id, model_version, frame["posting_id"].astype(str).tolist(),
    )
    if coded:
        log.info(
            "chunk %d of %s: %d postings already coded by another run of %s (%s): skipped, not coded twice",
            chunk["index"], run_id, len(coded), model_version, ", ".join(sorted(set(coded.values()))[:3]),
        )
        frame = frame[~frame["posting_id"].astype(str).isin(coded.keys())].reset_index(drop=True)
    decided: set[str] = set()
    if memory is not None:  # a re-run (the backlog step, a forced run) meets postings decided since
        decided = set(
            with_db_retry(
                engine, f"chunk {chunk['index']}: decided", current_labels, engine, frame["posting_id"].astype(str).tolist()
            )
        )
    predictions, rejects = classify_frame(
        classifier, frame, top_k=top_k, batch_size=batch_size, memory=memory, decided=decided
    )
    stamped = stamp_predictions(
        predictions, model_version=model_version, run_id=run_id, partition_date=day, predicted_at=end
    )
    # one transaction that replaces the chunk's rows: safe to retry when the connection drops
    with_db_retry(
        engine,
        f"chunk {chunk['index']}: write",
        write_chunk_sql,
        engine,
        stamped,
        rejects,
        run_id=run_id,
        model_version=model_version,
        posting_ids=frame["posting_id"].tolist(),
    )
    counts = {
        "rows_read": len(frame) + len(coded),
        "predicted": int(stamped["posting_id"].nunique()),
        "rejected": len(rejects),
        "already_coded": len(coded),
    }
    metadata = {**identity, **{f"jobclass.{k}": str(v) for k, v in counts.items()}}
    write_parquet_partition(stamped, out_dir, day, name, metadata=metadata)
    seconds = round(time.perf_counter() - t0, 3)
    log.info(
        "chunk %d of %s: read %d, predicted %d, rejected %d, already coded %d in %.1fs",
        chunk["index"], run_id, *counts.values(), seconds,
    )
    return {**summary, **counts, "skipped": False, "seconds": seconds}


# -- the run ----------------------------------------------------------------------------------
def start_run(engine: Engine, start: TimeLike, end: TimeLike, model_version: str, chunks: int) -> str:
    """Record the run as ``running`` (replacing an earlier attempt's row); returns its run id."""
    run_id = make_run_id(start, end, model_version)
    params = {
        "run_id": run_id,
        "interval_start": format_ts(start),
        "interval_end": format_ts(end),
        "model_version": model_version,
        "partition_date": partition_day(start),
        "chunks": chunks,
        "started_at": format_ts(utc_now()),
    }
    with_db_retry(engine, "start run", run_store.record_run_started, engine, params)
    return run_id


def fail_run(engine: Engine, start: TimeLike, end: TimeLike, model_version: str, reason: str) -> dict[str, Any]:
    """Record the run of [start, end) with ``model_version`` as ``failed``, creating its row when the
    run failed before it started (planning, or resolving the model): a failed run always leaves
    its row. A run that already finished (``success``, ``mismatch``) keeps its outcome."""
    params = {
        "run_id": make_run_id(start, end, model_version),
        "interval_start": format_ts(start),
        "interval_end": format_ts(end),
        "model_version": model_version,
        "partition_date": partition_day(start),
        "started_at": format_ts(utc_now()),
    }
    with_db_retry(engine, "record failed run", run_store.record_run_if_missing, engine, params)
    return finish_run(engine, params["run_id"], error=reason)


ORPHAN_TMP_AGE_S = 3600  # a part's temporary file this old was left by a killed writer


def remove_stale_parts(out_dir: str | Path, partition_date: str, run_id: str, chunks: int) -> list[Path]:
    """Delete this run's Parquet parts beyond its chunk count (left by an earlier, larger plan),
    and its hidden temporary files older than ``ORPHAN_TMP_AGE_S`` (left by a writer killed
    mid-write; readers skip hidden files, and a younger one may belong to a live writer)."""
    directory = partition_dir(out_dir, partition_date)
    key = run_key(run_id)
    stale = []
    for path in sorted(directory.glob(f"part-{key}-*.parquet")) if directory.is_dir() else []:
        match = _PART.match(path.name)
        if match and match["key"] == key and int(match["index"]) >= chunks:
            path.unlink()
            stale.append(path)
    cutoff = time.time() - ORPHAN_TMP_AGE_S
    for path in sorted(directory.glob(f".part-{key}-*.tmp")) if directory.is_dir() else []:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                stale.append(path)
        except FileNotFoundError:  # its writer finished or another cleaner got there first
            pass
    return stale


def finish_run(
    engine: Engine, run_id: str, *, out_dir: str | Path | None = None, error: str | None = None
) -> dict[str, Any]:
    """Reconcile a run from the database itself and record its outcome in ``prediction_runs``.

    ``success`` when every posting of the interval is predicted or rejected by this run, or was
    by another run of its model version (rows_read = rows_predicted + rows_rejected + rows_skipped
    and none unaccounted), ``mismatch`` otherwise,
    ``failed`` when ``error`` is given (unless the run already finished: its outcome is kept).
    Stale Parquet parts of the run are removed on success.
    """
    run, counts = with_db_retry(engine, "finish run: reconcile", run_store.run_with_counts, engine, run_id)
    if run is None:
        raise ValueError(f"no prediction run {run_id!r}: call start_run() first.")
    if error and run["status"] in ("success", "mismatch"):
        log.error("run %s already finished as %s; keeping that outcome. Later error: %s", run_id, run["status"], error)
        return run
    done = counts["rows_predicted"] + counts["rows_rejected"] + counts["rows_skipped"]
    balanced = counts["rows_read"] == done and not counts["unaccounted"]
    if error:
        status, detail = "failed", error[:2000]
    elif balanced:
        status, detail = "success", None
        remove_stale_parts(
            out_dir if out_dir is not None else predictions_dir(), run["partition_date"], run_id, run["chunks"]
        )
    else:
        status = "mismatch"
        detail = (
            f"read {counts['rows_read']} != predicted {counts['rows_predicted']} + rejected {counts['rows_rejected']}"
            f" + skipped {counts['rows_skipped']} ({counts['unaccounted']} postings none of these)"
        )
    finished = utc_now()
    duration = round((finished - to_utc(run["started_at"])).total_seconds(), 3)
    outcome = {"status": status, "detail": detail, "finished_at": format_ts(finished), "duration_s": duration}
    with_db_retry(engine, "finish run: record", run_store.record_run_outcome, engine, run_id, counts, outcome)
    if status == "mismatch":
        log.error("run %s does not reconcile: %s", run_id, detail)
    return {**run, **counts, **outcome}


def classify_interval(
    engine: Engine,
    classifier: Classifier,
    start: TimeLike,
    end: TimeLike,
    *,
    top_k: int = 5,
    chunk_size: int = 1000,
    out_dir: str | Path | None = None,
    model_version: str | None = None,
    batch_size: int | None = None,
    force: bool = False,
    use_memory: bool = True,
) -> RunSummary:
    """Classify every posting ingested in [start, end), chunk by chunk, and reconcile the run.
    With ``use_memory`` (the default) the coded-title memory is read once and applied."""
    model_version = model_version or classifier.version
    out_dir = Path(out_dir) if out_dir is not None else predictions_dir()
    chunks = plan_chunks(engine, start, end, chunk_size)
    run_id = start_run(engine, start, end, model_version, len(chunks))
    log.info("run %s: %d postings in %d chunks", run_id, sum(c["rows"] for c in chunks), len(chunks))
    skipped = 0
    try:
        memory = None
        if use_memory:
            from jobclass.pipeline.memory import load_memory

            memory = with_db_retry(engine, "read the coded-title memory", load_memory, engine, model_version=model_version)
        for chunk in chunks:
            result = classify_chunk(
                engine,
                classifier,
                start,
                end,
                chunk,
                top_k=top_k,
                out_dir=out_dir,
                model_version=model_version,
                batch_size=batch_size,
                force=force,
                memory=memory,
            )
            skipped += bool(result["skipped"])
    except Exception as exc:
        try:
            finish_run(engine, run_id, out_dir=out_dir, error=f"{type(exc).__name__}: {exc}")
        except Exception as record_error:  # noqa: BLE001 - the database may be the thing that failed
            # the row stays 'running': never 'success'; the next run of the interval replaces it
            log.error("run %s failed and could not be marked failed either: %s", run_id, record_error)
        raise
    run = finish_run(engine, run_id, out_dir=out_dir)
    return RunSummary(
        run_id=run_id,
        interval_start=run["interval_start"],
        interval_end=run["interval_end"],
        model_version=model_version,
        partition_date=run["partition_date"],
        chunks=len(chunks),
        chunks_skipped=skipped,
        rows_read=run["rows_read"],
        rows_predicted=run["rows_predicted"],
        rows_rejected=run["rows_rejected"],
        rows_skipped=run["rows_skipped"],
        status=run["status"],
        detail=run["detail"],
        duration_s=run["duration_s"],
        out_dir=str(out_dir),
    )
