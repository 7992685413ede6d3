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
from pathlib import Path
from typing import Any

from jobclass.pipeline.errors import GateFailedError, StaleComparisonError

log = logging.getLogger("jobclass.airflow")



LABEL_HOLDOUT_PERCENT = 20
#: The metrics the gate may use (a JSON-schema enum in the retrain's params).
GATE_METRICS = ("acc@1", "acc@5", "mrr@10")
HELD_OUT_NAME = "held-out"


# =========================================================================== weekly retrain


def safe_name(text: str) -> str:
    """A directory name for ``text`` (a dag_run_id): a readable slug plus a short hash of the raw text.

    The slug alone would let distinct ids collide (``a:b`` and ``a+b`` both slug to ``a_b``) and would
    turn ``..`` into nothing; the hash keeps every id apart, and no dot or separator survives the slug.
    """
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:80] or "run"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def retrain_root() -> Path:
    """The parent of every retrain workdir."""
    from jobclass.paths import data_home

    return data_home() / "retrain"


def retrain_workdir(run_id: str) -> Path:
    """Scratch space for one retrain run (shared storage: tasks may run on different workers).

    Raises ValueError if the resolved directory is not a child of :func:`retrain_root` (a symlink
    planted under that name, say): a run must never write, or later prune, outside it.
    """
    parent = retrain_root().resolve()
    path = (parent / safe_name(run_id)).resolve()
    if path.parent != parent:
        raise ValueError(f"the retrain workdir for run {run_id!r} resolves to {path}, outside {parent}.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir() -> Path:
    from jobclass.paths import data_home

    return data_home() / "reports"


def train_config(params: dict[str, Any]):
    """A ``TrainConfig`` from the DAG params (the recipe, then the overrides that are set)."""
    from jobclass.training.train import TrainConfig, with_overrides

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
    from jobclass.training.train import finetune_stage

    config = train_config(params)
    labelled = _labelled(training_set["labels_train"])
    encoder_path, metrics = finetune_stage(config, workdir / "encoder", labelled=labelled)
    return {"encoder_path": str(encoder_path), "finetune": metrics}


def train_head(params: dict[str, Any], training_set: dict, finetuned: dict) -> dict:
    """Step 3: the LR head (and index, profiles, calibration) on the fine-tuned encoder; saves the bundle."""
    from jobclass.model.bundle import save_bundle
    from jobclass.paths import models_dir
    from jobclass.training.train import train_model

    config = train_config(params)
    labelled = _labelled(training_set["labels_train"])
    classifier = train_model(config, labelled=labelled, encoder_path=finetuned["encoder_path"])
    path = save_bundle(classifier, models_dir() / classifier.version)
    log.info("Trained %s, saved to %s", classifier.version, path)
    return {"version": classifier.version, "path": str(path)}


def register_challenger(engine, challenger: dict, params: dict[str, Any]) -> dict:
    """Step 4: the new model in ``model_versions`` as a challenger."""
    from jobclass.store.registry import register_model

    reason = "weekly retrain (dry run)" if params.get("dry_run") else "weekly retrain"
    register_model(engine, challenger["version"], challenger["path"], {}, None, status="challenger", reason=reason)
    return challenger


# --------------------------------------------------------------------------- the gate

#: The primary gate: the frozen reported-titles benchmark (or a fixed subsample of it). Nothing that
#: changes week to week enters it, so its content hash changes only with the benchmark itself.
GATE_BENCHMARK = "reported-titles"
#: Benchmarks scored for the report only, never a gate (skipped while ``load_benchmark`` lacks them).
REPORT_BENCHMARKS = ("real-postings",)
#: Below this many held-out reviewed labels (``HELD_OUT_NAME``) their score is reported, not gated on.
MIN_GATE_LABELS = 30
#: How far (in the gate metric) the challenger may fall below the champion on the held-out labels.
LABELS_TOLERANCE = 0.02
#: ``force_promote=true`` as ``jobclass train`` spells it, for the reasons the gate gives.
CLI_FORCE = "jobclass train: --promote always"
#: The two models the gate scores, as keys of the evaluation.
ROLES = ("challenger", "champion")



def _frozen_subsample(benchmark, limit: int | None):
    """``benchmark``, or a seeded subsample of ``limit`` rows: the same rows (and hash) on every run."""
    from jobclass.evaluation.benchmark import make_benchmark

    if limit and len(benchmark) > limit:
        return make_benchmark(benchmark.name, benchmark.frame.sample(n=int(limit), random_state=0))
    return benchmark


def gate_benchmarks(holdout, eval_limit: int | None) -> dict[str, Any]:
    """The sets both models are scored on, by name: the frozen primary gate set, the held-out reviewed
    labels (``holdout``: title/body/onet_code rows, or None) when there are any, and the report-only
    benchmarks that exist."""
    import pandas as pd

    from jobclass.evaluation.benchmark import make_benchmark
    from jobclass.evaluation.sets import load_benchmark
    from jobclass.training.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    sets = {GATE_BENCHMARK: _frozen_subsample(load_benchmark(GATE_BENCHMARK, taxonomy), eval_limit)}
    if holdout is not None and len(holdout):
        known = holdout[holdout["onet_code"].isin(taxonomy.index_of)]
        if len(known):
            frame = pd.DataFrame({"title": known["title"], "body": known["body"], "code": known["onet_code"]})
            sets[HELD_OUT_NAME] = make_benchmark(HELD_OUT_NAME, frame)
    for name in REPORT_BENCHMARKS:
        try:
            sets[name] = _frozen_subsample(load_benchmark(name, taxonomy), eval_limit)
        except ValueError as exc:  # not shipped (yet): the report says so
            log.info("Benchmark %s is not available, so the report leaves it out: %s", name, exc)
    return sets


def _role(name: str, rows: int) -> str:
    if name == GATE_BENCHMARK:
        return "gate"
    if name == HELD_OUT_NAME:
        return "no-regression gate" if rows >= MIN_GATE_LABELS else f"report only (fewer than {MIN_GATE_LABELS} labels)"
    return "report only"


def score_model(path: str, benchmarks: dict[str, Any], device: str) -> dict[str, Any]:
    """Load the bundle at ``path`` and score it on every set: metrics by set name, and the
    per-major-group table of the primary gate set (for the report)."""
    from jobclass.evaluation.metrics import per_major_group
    from jobclass.evaluation.scoring import benchmark_labels, classifier_scores, evaluate_probabilities
    from jobclass.model.bundle import load_bundle

    classifier = load_bundle(path, device=device)
    metrics: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    for name, benchmark in benchmarks.items():
        probs = classifier_scores(classifier, benchmark)
        metrics[name] = evaluate_probabilities(probs, benchmark, classifier.codes, classifier.settings.review_threshold)
        if name == GATE_BENCHMARK:
            labels = benchmark_labels(benchmark, classifier.codes)
            groups = per_major_group(probs, labels, classifier.codes).to_dict(orient="records")
    return {"metrics": metrics, "groups": groups}


def evaluate_models(
    engine, challenger: dict, training_set: dict | None, params: dict[str, Any], workdir: Path
) -> dict:
    """Step 5: challenger and champion both scored now, in this run, on the same frozen sets (hashes recorded).

    No stored score is trusted: one computed on another subset or benchmark version would compare
    unlike with unlike. A champion that cannot be loaded or scored is recorded as ``champion_error``,
    and :func:`decide` then fails the gate instead of waving the challenger through.
    """
    import pandas as pd

    from jobclass.store.registry import get_champion

    holdout = pd.read_parquet(training_set["labels_holdout"]) if training_set else None
    benchmarks = gate_benchmarks(holdout, params.get("eval_limit"))
    primary = benchmarks[GATE_BENCHMARK]
    log.info("Gate set %s: %d rows, hash %s", GATE_BENCHMARK, len(primary), primary.content_hash)
    device = params.get("device") or "auto"
    result: dict[str, Any] = {
        "challenger_version": challenger["version"],
        "benchmark_hash": primary.content_hash,
        "benchmark_rows": len(primary),
        "benchmarks": {
            name: {"hash": bench.content_hash, "rows": len(bench), "role": _role(name, len(bench))}
            for name, bench in benchmarks.items()
        },
    }
    details: dict[str, Any] = {"challenger": score_model(challenger["path"], benchmarks, device)}
    champion = get_champion(engine)
    result["champion_version"] = champion.version if champion else None
    if champion is not None and champion.version != challenger["version"]:
        try:
            details["champion"] = score_model(champion.path, benchmarks, device)
        except Exception as exc:  # noqa: BLE001 - any failure: recorded, and the gate fails on it
            log.error("Champion %s could not be evaluated: %s: %s", champion.version, type(exc).__name__, exc)
            result["champion_error"] = f"{type(exc).__name__}: {exc}"
    path = workdir / "evaluation.json"
    path.write_text(json.dumps({**result, **details}, default=str), encoding="utf-8")
    result["details"] = str(path)
    scores = {
        name: {role: _headline(details[role]["metrics"][name]) if role in details else None for role in ROLES}
        for name in benchmarks
    }
    result["scores"] = scores
    result["challenger"], result["champion"] = scores[GATE_BENCHMARK]["challenger"], scores[GATE_BENCHMARK]["champion"]
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


def _labels_regression(evaluation: dict, metric: str, tolerance: float) -> str | None:
    """Why the challenger fails the held-out-labels gate, or None (passed, or too few labels to gate on)."""
    rows = evaluation.get("benchmarks", {}).get(HELD_OUT_NAME, {}).get("rows", 0)
    scores = evaluation.get("scores", {}).get(HELD_OUT_NAME) or {}
    if rows < MIN_GATE_LABELS or not scores.get("champion"):
        return None
    new, old = scores["challenger"][metric], scores["champion"][metric]
    if new >= old - tolerance:
        return None
    return (
        f"it regresses on the {rows} held-out reviewed labels ({metric} {new:.4f} against the champion's "
        f"{old:.4f}, more than the {tolerance:.4f} tolerated)"
    )


def decide(evaluation: dict, params: dict[str, Any]) -> dict:
    """Step 6: promote or keep, with the reason. Pure: the branch task only maps this to a task id.

    ``failed`` means the gate could not compare (the champion could not be evaluated): nothing is
    promoted unless ``force_promote`` is set, and a forced promotion says so (``forced``).
    """
    metric = params.get("gate_metric", "acc@1")
    min_improvement = float(params.get("min_improvement", 0.0))
    new = evaluation["challenger"][metric]
    old = (evaluation.get("champion") or {}).get(metric)
    champion = evaluation.get("champion_version")
    failed = False
    if champion is None:
        promote, reason = True, f"no champion yet; challenger {metric}={new:.4f}"
    elif champion == evaluation.get("challenger_version"):
        promote, reason = True, f"{champion} is already the champion"
    elif evaluation.get("champion_error") or old is None:
        promote, failed = False, True
        reason = (
            f"champion {champion} could not be evaluated: {evaluation.get('champion_error') or f'no {metric} score'}; "
            f"re-run, or trigger with force_promote=true ({CLI_FORCE})"
        )
    else:
        delta = new - old
        promote = delta > 0 and delta >= min_improvement
        verdict = "beats" if promote else "does not beat"
        reason = (
            f"challenger {metric}={new:.4f} {verdict} champion {champion} "
            f"{metric}={old:.4f} by the required {min_improvement:.4f} (delta {delta:+.4f})"
        )
        regression = _labels_regression(evaluation, metric, float(params.get("labels_tolerance", LABELS_TOLERANCE)))
        if promote and regression:
            promote, reason = False, f"{reason}, but {regression}"
    forced = bool(params.get("force_promote")) and not promote
    if forced:
        promote, failed, reason = True, False, f"FORCED by force_promote=true ({CLI_FORCE}): {reason}"
    if params.get("dry_run"):
        reason = f"dry run, would {'promote' if promote else 'keep the champion'}: {reason}"
        promote = False
    return {"promote": promote, "reason": reason, "metric": metric, "forced": forced, "failed": failed}


def promote_challenger(
    engine, challenger: dict, evaluation: dict, decision: dict, *, origin: str = "weekly retrain"
) -> dict:
    """Step 7a: atomic promotion, unless the champion changed since it was evaluated."""
    from jobclass.store.registry import get_champion, promote

    if not decision["promote"]:
        raise ValueError(f"the gate decided not to promote {challenger['version']}: {decision['reason']}")
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
    promote(engine, challenger["version"], reason=f"{origin}: {decision['reason']}")
    log.info("PROMOTED %s to champion: %s", challenger["version"], decision["reason"])
    return {"status": "champion", "version": challenger["version"]}


def keep_champion(
    engine, challenger: dict, decision: dict, params: dict[str, Any], *, origin: str = "weekly retrain"
) -> dict:
    """Step 7b: the champion keeps serving. The challenger is rejected; it stays a challenger on a dry
    run, or when the gate failed (it was never judged)."""
    from jobclass.store.registry import record_decision

    status = "challenger" if params.get("dry_run") or decision.get("failed") else "rejected"
    record_decision(engine, challenger["version"], status, f"{origin}: {decision['reason']}")
    log.info("KEPT the champion; %s is %s: %s", challenger["version"], status, decision["reason"])
    return {"status": status, "version": challenger["version"]}


def _decision_label(decision: dict, status: str) -> str:
    if decision.get("failed"):
        return "failed"
    if status == "champion":
        return "promoted (forced)" if decision.get("forced") else "promoted"
    return status


def record_and_report(
    engine,
    challenger: dict,
    evaluation: dict,
    decision: dict,
    params: dict[str, Any],
    training_set: dict | None = None,
    *,
    origin: str = "weekly retrain",
) -> dict:
    """Step 8: both scores and the decision in ``model_versions``, and the HTML report.

    Raises :class:`GateFailedError` after recording when the gate failed, so the run ends failed.
    """
    from jobclass.evaluation.report import write_report
    from jobclass.store.registry import get_model, register_model

    details = json.loads(Path(evaluation["details"]).read_text(encoding="utf-8"))
    model = get_model(engine, challenger["version"])
    label = _decision_label(decision, model.status)
    scores = {
        **model.metrics,
        **details["challenger"]["metrics"],
        "gate": {
            "metric": decision["metric"],
            "decision": label,
            "reason": decision["reason"],
            "forced": bool(decision.get("forced")),
            "origin": origin,
            "benchmark": GATE_BENCHMARK,
            "benchmark_hash": evaluation["benchmark_hash"],
            "benchmarks": evaluation.get("benchmarks", {}),
            "challenger": evaluation["challenger"],
            "champion_version": evaluation.get("champion_version"),
            "champion": evaluation.get("champion"),
            "champion_error": evaluation.get("champion_error"),
            "scores": evaluation.get("scores", {}),
        },
    }
    # Upsert: metrics and benchmark hash stored, the status decided in step 7 kept as it is.
    register_model(engine, model.version, model.path, scores, evaluation["benchmark_hash"], status=model.status)
    champion = details.get("champion") or {}
    report = write_report(
        reports_dir(),
        version=challenger["version"],
        metrics=details["challenger"]["metrics"][GATE_BENCHMARK],
        per_major_group=details["challenger"]["groups"],
        champion_version=evaluation.get("champion_version"),
        champion_metrics=(champion.get("metrics") or {}).get(GATE_BENCHMARK),
        champion_per_major_group=champion.get("groups"),
        decision=label,
        reason=decision["reason"],
        benchmark=f"{GATE_BENCHMARK}, frozen ({evaluation['benchmark_rows']} rows)",
        benchmark_hash=evaluation["benchmark_hash"],
        params={k: v for k, v in params.items()},
        extra=_report_facts(challenger, training_set, evaluation),
        sections=_report_sections(evaluation, details),
    )
    log.info("Report for %s: %s", challenger["version"], report)
    if decision.get("failed"):
        raise GateFailedError(f"{origin}: {decision['reason']} (recorded; report {report})")
    return {"version": challenger["version"], "decision": label, "reason": decision["reason"], "report": str(report)}


def _report_sections(evaluation: dict, details: dict) -> dict[str, tuple[dict, dict | None]]:
    """The sets other than the primary gate, each titled with its role and hash (challenger, champion)."""
    sections = {}
    for name, facts in evaluation.get("benchmarks", {}).items():
        if name == GATE_BENCHMARK:
            continue
        champion = (details.get("champion") or {}).get("metrics", {}).get(name)
        title = f"{name}: {facts['role']} ({facts['rows']} rows, {facts['hash']})"
        sections[title] = (details["challenger"]["metrics"][name], champion)
    return sections


def _report_facts(challenger: dict, training_set: dict | None, evaluation: dict) -> dict[str, Any]:
    facts: dict[str, Any] = {"Bundle": challenger["path"]}
    if evaluation.get("champion_error"):
        facts["Champion evaluation error"] = evaluation["champion_error"]
    if training_set:
        facts["Reviewed labels (train / held out)"] = (
            f"{training_set['n_labels_train']} / {training_set['n_labels_holdout']}"
        )
    return facts


def run_gate(
    engine,
    challenger: dict,
    training_set: dict | None,
    params: dict[str, Any],
    workdir: Path,
    *,
    origin: str,
) -> dict:
    """Steps 5 to 8 in one call: what ``jobclass train --promote`` runs. The DAG runs the same steps as
    separate tasks, so both score the two models on the same frozen sets and decide the same way."""
    evaluation = evaluate_models(engine, challenger, training_set, params, workdir)
    decision = decide(evaluation, params)
    if decision["promote"]:
        promote_challenger(engine, challenger, evaluation, decision, origin=origin)
    else:
        keep_champion(engine, challenger, decision, params, origin=origin)
    return record_and_report(engine, challenger, evaluation, decision, params, training_set, origin=origin)


# --------------------------------------------------------------------------- retention

#: Registered non-champion bundles kept by the prune, newest first (``JOBCLASS_KEEP_CHALLENGERS``).
KEEP_CHALLENGERS = 3
#: Retrain workdirs (and interrupted bundle saves) older than this are pruned (``JOBCLASS_KEEP_WORKDIR_DAYS``).
KEEP_WORKDIR_DAYS = 14.0


def retention_settings() -> tuple[int, float]:
    """``(keep_challengers, keep_workdir_days)`` from the environment, else the defaults."""
    import os

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


def _models_in_use(engine) -> set[str]:
    """Versions a running prediction run classifies with: their bundles are still being read."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT DISTINCT model_version FROM prediction_runs WHERE status = 'running'"))
        return set(rows.scalars().all())


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
    for version in _models_in_use(engine):
        why.setdefault(version, "used by a running prediction run")
    for version in keep:
        why.setdefault(version, "this run's challenger")
    return why


def _age_days(path: Path, now: float) -> float:
    """Days since anything directly in ``path`` (or ``path`` itself) last changed."""
    import contextlib

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
    import shutil
    import time

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


def params_dict(params: Any) -> dict[str, Any]:
    """Plain values from Airflow's ParamsDict (or any mapping)."""
    return {k: params[k] for k in params} if params is not None else {}
