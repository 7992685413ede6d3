"""What the jobclass DAG tasks do, as plain functions over the ``jobclass`` library.

No Airflow import here (and nothing heavy at import time): each function takes an engine and
plain values and returns a small JSON-serialisable dict, so the DAG tasks stay a few lines each and
these steps can be tested, or run by hand, without a scheduler.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("jobclass.airflow")

NO_CHAMPION_HELP = (
    "No champion model is registered in the jobclass database. Either trigger this DAG with "
    "bootstrap_if_no_champion=true (trains and promotes the light default model, about 5 minutes on "
    "2 CPU cores), run `jobclass train --recipe bootstrap --promote always` (or `jobclass train` for the "
    "full model) against the same database, or trigger the `jobclass_weekly_retrain` DAG."
)

#: Percent of reviewed postings (by a hash of the posting id) kept out of training for evaluation.
LABEL_HOLDOUT_PERCENT = 20
#: The metrics the gate may use (a JSON-schema enum in the retrain's params).
GATE_METRICS = ("acc@1", "acc@5", "mrr@10")
HELD_OUT_NAME = "held-out"


class NoChampionError(RuntimeError):
    """There is no champion and bootstrapping is off."""


class StaleComparisonError(RuntimeError):
    """The champion changed between evaluation and promotion."""


# =========================================================================== nightly


def resolve_champion(engine, *, bootstrap: bool) -> dict[str, str]:
    """The champion's version and bundle path; with none, bootstrap one (if allowed) or say what to run."""
    from jobclass.bundle import verify_bundle
    from jobclass.registry import get_champion

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
    from jobclass.bundle import save_bundle
    from jobclass.paths import models_dir
    from jobclass.registry import get_champion, promote, register_model
    from jobclass.training import bootstrap_model

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
    from jobclass.classify import plan_chunks, start_run

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
            from jobclass.bundle import load_bundle

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


def classify(engine, model: dict, chunk: dict, start: datetime, end: datetime, *, top_k: int) -> dict:
    """Classify one chunk with the run's model; returns only counts (and its part's path)."""
    from jobclass.classify import classify_chunk

    result = classify_chunk(
        engine, LazyClassifier(model), start, end, chunk, top_k=top_k, model_version=model["version"]
    )
    return {
        k: result[k]
        for k in ("chunk", "rows_read", "predicted", "rejected", "skipped", "seconds", "part")
        if k in result
    }


def finish(engine, model: dict, start: datetime, end: datetime, results: list[dict]) -> dict:
    """Reconcile the run in ``prediction_runs``; a run that does not reconcile fails loudly."""
    from jobclass.classify import finish_run, make_run_id

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
        "status": run["status"],
    }
    log.info("Run summary: %s", json.dumps(summary))
    if run["status"] != "success":
        raise RuntimeError(f"prediction run {run_id} did not reconcile: {run['detail']}")
    return summary


def record_failure(engine, model: dict | None, start: datetime, end: datetime, reason: str) -> None:
    """Mark the run ``failed`` in ``prediction_runs`` (so no partial run ever reads as a success)."""
    from jobclass.classify import finish_run, make_run_id

    if not model:
        log.error("No model was resolved for this run; nothing to mark in prediction_runs.")
        return
    run_id = make_run_id(start, end, model["version"])
    try:
        finish_run(engine, run_id, error=reason)
        log.error("Prediction run %s marked failed: %s", run_id, reason)
    except ValueError as exc:  # the run was never started
        log.error("Could not mark run %s failed: %s", run_id, exc)


# =========================================================================== weekly retrain


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "run"


def retrain_workdir(run_id: str) -> Path:
    """Scratch space for one retrain run (shared storage: tasks may run on different workers)."""
    from jobclass.paths import data_home

    path = data_home() / "retrain" / safe_name(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir() -> Path:
    from jobclass.paths import data_home

    return data_home() / "reports"


def train_config(params: dict[str, Any]):
    """A ``TrainConfig`` from the DAG params (the recipe, then the overrides that are set)."""
    from jobclass.training import TrainConfig, with_overrides

    base = TrainConfig.recipe(params.get("recipe", "default"))
    config = with_overrides(
        base,
        epochs=params.get("epochs"),
        batch_size=params.get("batch_size"),
        learning_rate=params.get("learning_rate"),
        max_pairs=params.get("max_examples"),
        max_steps=params.get("max_steps"),
        device=params.get("device"),
    )
    # The DAG evaluates on its own frozen held-out set (step 5), not inside training.
    return replace(config, benchmarks=(), show_progress=False)


def is_held_out_posting(posting_id: str) -> bool:
    from jobclass.hashing import bucket

    return bucket(f"label-holdout:{posting_id}") < LABEL_HOLDOUT_PERCENT


def read_reviewed_labels(engine):
    """Reviewed labels with their posting text: posting_id, title, body, onet_code (latest review wins)."""
    import pandas as pd
    import sqlalchemy as sa

    query = sa.text(
        "SELECT l.posting_id, p.title, p.body, l.onet_code, l.created_at FROM posting_labels l "
        "JOIN job_postings p ON p.id = l.posting_id ORDER BY l.posting_id, l.created_at DESC, l.onet_code"
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(
            conn.execute(query).fetchall(), columns=["posting_id", "title", "body", "onet_code", "created_at"]
        )
    frame = frame.drop_duplicates("posting_id", keep="first").drop(columns="created_at")
    return frame.fillna("").astype(str).reset_index(drop=True)


def build_training_set(engine, workdir: Path) -> dict:
    """Step 1: reviewed labels split by a hash of the posting id into training and held-out slices."""
    labels = read_reviewed_labels(engine)
    held = labels["posting_id"].map(is_held_out_posting) if len(labels) else labels["posting_id"].astype(bool)
    train, holdout = labels[~held], labels[held]
    train_path, holdout_path = workdir / "labels_train.parquet", workdir / "labels_holdout.parquet"
    train.to_parquet(train_path, index=False)
    holdout.to_parquet(holdout_path, index=False)
    log.info(
        "Training set: O*NET corpus + %d reviewed labels (%d more held out for evaluation)", len(train), len(holdout)
    )
    return {
        "labels_train": str(train_path),
        "labels_holdout": str(holdout_path),
        "n_labels_train": len(train),
        "n_labels_holdout": len(holdout),
    }


def _labelled(path: str):
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame[["title", "body", "onet_code"]] if len(frame) else None


def finetune_embeddings(params: dict[str, Any], training_set: dict, workdir: Path) -> dict:
    """Step 2: contrastive fine-tuning of the encoder; saves it under the run's workdir."""
    from jobclass.training import finetune_stage

    config = train_config(params)
    encoder_path, metrics = finetune_stage(config, workdir / "encoder", labelled=_labelled(training_set["labels_train"]))
    return {"encoder_path": str(encoder_path), "finetune": metrics}


def train_head(params: dict[str, Any], training_set: dict, finetuned: dict) -> dict:
    """Step 3: the LR head (and index, profiles, calibration) on the fine-tuned encoder; saves the bundle."""
    from jobclass.bundle import save_bundle
    from jobclass.paths import models_dir

    from jobclass.training import train_model

    config = train_config(params)
    classifier = train_model(config, labelled=_labelled(training_set["labels_train"]), encoder_path=finetuned["encoder_path"])
    path = save_bundle(classifier, models_dir() / classifier.version)
    log.info("Trained %s, saved to %s", classifier.version, path)
    return {"version": classifier.version, "path": str(path)}


def register_challenger(engine, challenger: dict, params: dict[str, Any]) -> dict:
    """Step 4: the new model in ``model_versions`` as a challenger."""
    from jobclass.registry import register_model

    reason = "weekly retrain (dry run)" if params.get("dry_run") else "weekly retrain"
    register_model(engine, challenger["version"], challenger["path"], {}, None, status="challenger", reason=reason)
    return challenger


def held_out_benchmark(training_set: dict, eval_limit: int | None):
    """The frozen test set: reported titles (optionally a fixed subsample) + the held-out labels."""
    import pandas as pd

    from jobclass.benchmarks import load_benchmark, make_benchmark
    from jobclass.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    reported = load_benchmark("reported-titles", taxonomy)
    frame = reported.frame
    if eval_limit and len(frame) > eval_limit:
        frame = frame.sample(n=int(eval_limit), random_state=0).sort_index()
    parts = [frame.assign(source="reported-titles")]
    holdout = pd.read_parquet(training_set["labels_holdout"])
    if len(holdout):
        known = holdout["onet_code"].isin(taxonomy.index_of)
        parts.append(
            pd.DataFrame(
                {
                    "title": holdout.loc[known, "title"],
                    "body": holdout.loc[known, "body"],
                    "code": holdout.loc[known, "onet_code"],
                    "source": "posting-labels",
                }
            )
        )
    combined = pd.concat(parts, ignore_index=True)
    return make_benchmark(HELD_OUT_NAME, combined), combined["source"].to_numpy()


def _score(classifier, benchmark, sources) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics on the whole held-out set and on each part, and the per-major-group table."""
    from jobclass.benchmarks import make_benchmark
    from jobclass.evaluation import benchmark_labels, classifier_scores, evaluate_probabilities
    from jobclass.metrics import per_major_group

    probs = classifier_scores(classifier, benchmark)
    threshold = classifier.settings.review_threshold
    metrics = {HELD_OUT_NAME: evaluate_probabilities(probs, benchmark, classifier.codes, threshold)}
    for source in sorted(set(sources)):
        mask = sources == source
        part = make_benchmark(source, benchmark.frame[mask])
        metrics[source] = evaluate_probabilities(probs[mask], part, classifier.codes, threshold)
    groups = per_major_group(probs, benchmark_labels(benchmark, classifier.codes), classifier.codes)
    return metrics, groups.to_dict(orient="records")


def evaluate_models(engine, challenger: dict, training_set: dict, params: dict[str, Any], workdir: Path) -> dict:
    """Step 5: challenger and champion on the same frozen held-out set; its hash is recorded."""
    from jobclass.bundle import load_bundle
    from jobclass.registry import get_champion

    benchmark, sources = held_out_benchmark(training_set, params.get("eval_limit"))
    log.info("Held-out test set: %d rows, hash %s", len(benchmark), benchmark.content_hash)
    device = params.get("device") or "auto"
    result: dict[str, Any] = {"benchmark_hash": benchmark.content_hash, "benchmark_rows": len(benchmark)}
    details: dict[str, Any] = {}

    clf = load_bundle(challenger["path"], device=device)
    metrics, groups = _score(clf, benchmark, sources)
    details["challenger"] = {"metrics": metrics, "groups": groups}
    del clf

    champion = get_champion(engine)
    result["champion_version"] = champion.version if champion else None
    if champion is not None and champion.version != challenger["version"]:
        try:
            clf = load_bundle(champion.path, device=device)
            metrics, groups = _score(clf, benchmark, sources)
            details["champion"] = {"metrics": metrics, "groups": groups}
        except Exception as exc:  # noqa: BLE001 - a broken champion must not block a good challenger
            log.error("Champion %s cannot be loaded for comparison: %s", champion.version, exc)
            result["champion_error"] = f"{type(exc).__name__}: {exc}"
    path = workdir / "evaluation.json"
    path.write_text(json.dumps({**result, **details}, default=str), encoding="utf-8")
    result["details"] = str(path)
    result["challenger"] = _headline(details["challenger"]["metrics"][HELD_OUT_NAME])
    result["champion"] = _headline(details["champion"]["metrics"][HELD_OUT_NAME]) if "champion" in details else None
    log.info(
        "Challenger %s: %s; champion %s: %s",
        challenger["version"],
        result["challenger"],
        result["champion_version"],
        result["champion"],
    )
    return result


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in GATE_METRICS if k in metrics}


def decide(evaluation: dict, params: dict[str, Any]) -> dict:
    """Step 6: promote or keep, with the reason. Pure: the branch task only maps this to a task id."""
    metric = params.get("gate_metric", "acc@1")
    min_improvement = float(params.get("min_improvement", 0.0))
    new = evaluation["challenger"][metric]
    old = (evaluation.get("champion") or {}).get(metric)
    if evaluation.get("champion_version") is None:
        promote, reason = True, f"no champion yet; challenger {metric}={new:.4f}"
    elif old is None:
        promote, reason = (
            True,
            (
                f"champion {evaluation['champion_version']} could not be evaluated "
                f"({evaluation.get('champion_error')}); challenger {metric}={new:.4f}"
            ),
        )
    else:
        delta = new - old
        promote = delta > 0 and delta >= min_improvement
        verdict = "beats" if promote else "does not beat"
        reason = (
            f"challenger {metric}={new:.4f} {verdict} champion {evaluation['champion_version']} "
            f"{metric}={old:.4f} by the required {min_improvement:.4f} (delta {delta:+.4f})"
        )
    if params.get("force_promote") and not promote:
        promote, reason = True, f"force_promote: {reason}"
    if params.get("dry_run"):
        reason = f"dry run, would {'promote' if promote else 'keep the champion'}: {reason}"
        promote = False
    return {"promote": promote, "reason": reason, "metric": metric}


def promote_challenger(engine, challenger: dict, evaluation: dict, decision: dict) -> dict:
    """Step 7a: atomic promotion, unless the champion changed since it was evaluated."""
    from jobclass.registry import get_champion, promote

    current = get_champion(engine)
    current_version = current.version if current else None
    if current_version == challenger["version"]:  # a retry after the promotion went through
        log.info("%s is already the champion.", current_version)
        return {"status": "champion", "version": current_version}
    if current_version != evaluation.get("champion_version"):
        raise StaleComparisonError(
            f"the champion changed from {evaluation.get('champion_version')} to {current_version} during this "
            "retrain; not promoting on a stale comparison. Re-run the retrain."
        )
    promote(engine, challenger["version"], reason=f"weekly retrain: {decision['reason']}")
    log.info("PROMOTED %s to champion: %s", challenger["version"], decision["reason"])
    return {"status": "champion", "version": challenger["version"]}


def keep_champion(engine, challenger: dict, decision: dict, params: dict[str, Any]) -> dict:
    """Step 7b: the champion keeps serving; the challenger is rejected (or kept, on a dry run)."""
    from jobclass.registry import record_decision

    status = "challenger" if params.get("dry_run") else "rejected"
    record_decision(engine, challenger["version"], status, f"weekly retrain: {decision['reason']}")
    log.info("KEPT the champion; %s is %s: %s", challenger["version"], status, decision["reason"])
    return {"status": status, "version": challenger["version"]}


def record_and_report(
    engine, challenger: dict, evaluation: dict, decision: dict, params: dict[str, Any], training_set: dict | None = None
) -> dict:
    """Step 8: both scores and the decision in ``model_versions``, and the HTML report."""
    from jobclass.registry import get_model, register_model
    from jobclass.reporting import write_report

    details = json.loads(Path(evaluation["details"]).read_text(encoding="utf-8"))
    model = get_model(engine, challenger["version"])
    scores = {
        **details["challenger"]["metrics"],
        "gate": {
            "metric": decision["metric"],
            "decision": "promoted" if model.status == "champion" else model.status,
            "reason": decision["reason"],
            "benchmark_hash": evaluation["benchmark_hash"],
            "challenger": evaluation["challenger"],
            "champion_version": evaluation.get("champion_version"),
            "champion": evaluation.get("champion"),
        },
    }
    # Upsert: metrics and benchmark hash stored, the status decided in step 7 kept as it is.
    register_model(engine, model.version, model.path, scores, evaluation["benchmark_hash"], status=model.status)
    champion = details.get("champion") or {}
    report = write_report(
        reports_dir(),
        version=challenger["version"],
        metrics=details["challenger"]["metrics"][HELD_OUT_NAME],
        per_major_group=details["challenger"]["groups"],
        champion_version=evaluation.get("champion_version"),
        champion_metrics=(champion.get("metrics") or {}).get(HELD_OUT_NAME),
        champion_per_major_group=champion.get("groups"),
        decision=scores["gate"]["decision"],
        reason=decision["reason"],
        benchmark=f"{HELD_OUT_NAME}: reported titles + held-out reviewed labels ({evaluation['benchmark_rows']} rows)",
        benchmark_hash=evaluation["benchmark_hash"],
        params={k: v for k, v in params.items()},
        extra=_report_facts(challenger, training_set),
    )
    log.info("Report for %s: %s", challenger["version"], report)
    return {"version": challenger["version"], "decision": scores["gate"]["decision"], "report": str(report)}


def _report_facts(challenger: dict, training_set: dict | None) -> dict[str, Any]:
    facts: dict[str, Any] = {"Bundle": challenger["path"]}
    if training_set:
        facts["Reviewed labels (train / held out)"] = (
            f"{training_set['n_labels_train']} / {training_set['n_labels_holdout']}"
        )
    return facts


def params_dict(params: Any) -> dict[str, Any]:
    """Plain values from Airflow's ParamsDict (or any mapping)."""
    return {k: params[k] for k in params} if params is not None else {}
