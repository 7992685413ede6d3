"""The promotion gate: steps 5 to 8 of the weekly retrain, and what ``jobclass train --promote`` runs.

Challenger and champion are scored now, in this run, on the same frozen sets (:func:`evaluate_models`);
:func:`decide` turns that evaluation into promote-or-keep, once; the decision is then carried out
(:func:`promote_challenger` or :func:`keep_champion`) and recorded with a report
(:func:`record_and_report`). Each step takes and returns plain JSON-serialisable values, so the DAG
hands them from task to task by XCom and :func:`run_gate` chains them in one call.

Light at import (no ML stack, no database driver): the DAG file reads the gate's constants here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from jobclass.pipeline.errors import GateFailedError, StaleComparisonError

log = logging.getLogger("jobclass.airflow")

#: The metrics the gate may compare on (the retrain's ``gate_metric`` choices), and the default.
GATE_METRICS = ("acc@1", "acc@5", "mrr@10")
DEFAULT_GATE_METRIC = "acc@1"
#: How much the challenger must gain on the gate metric unless told otherwise (``jobclass train``).
MIN_IMPROVEMENT = 0.0
#: The held-out slice of the reviewed labels, scored as a second gate.
HELD_OUT_NAME = "held-out"

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


def reports_dir():
    """Where the gate's HTML reports go: ``<data home>/reports``."""
    from jobclass.paths import data_home

    return data_home() / "reports"


def _plain(value: Any) -> Any:
    """JSON-plain values, so an evaluation can travel by XCom: numpy to Python, order kept, and a
    non-finite score (NaN: a metric with nothing to measure) as None, which the report shows as "–"."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


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
    from jobclass.onet.taxonomy import load_taxonomy

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
    """Load the bundle at ``path`` and score it on every set: metrics by set name, and per-major-group
    tables by set name (``groups``: the primary gate set's, for the report's main chart)."""
    from jobclass.evaluation.metrics import per_major_group
    from jobclass.evaluation.scoring import benchmark_labels, classifier_scores, evaluate_probabilities
    from jobclass.model.bundle import load_bundle

    classifier = load_bundle(path, device=device)
    metrics: dict[str, Any] = {}
    groups_by_set: dict[str, list[dict[str, Any]]] = {}
    for name, benchmark in benchmarks.items():
        probs = classifier_scores(classifier, benchmark)
        metrics[name] = evaluate_probabilities(probs, benchmark, classifier.codes, classifier.settings.review_threshold)
        labels = benchmark_labels(benchmark, classifier.codes)
        groups_by_set[name] = per_major_group(probs, labels, classifier.codes).to_dict(orient="records")
    return {"metrics": metrics, "groups": groups_by_set.get(GATE_BENCHMARK, []), "groups_by_set": groups_by_set}


def evaluate_models(engine, challenger: dict, training_set: dict | None, params: dict[str, Any]) -> dict:
    """Step 5: challenger and champion both scored now, in this run, on the same frozen sets (hashes recorded).

    No stored score is trusted: one computed on another subset or benchmark version would compare
    unlike with unlike. A champion that cannot be loaded or scored is recorded as ``champion_error``,
    and :func:`decide` then fails the gate instead of waving the challenger through.

    Returns the whole evaluation, JSON-plain: the sets (``benchmarks``: hash, rows, role), the
    headline scores (``scores`` by set, and ``challenger`` / ``champion`` on the primary gate set),
    and ``details``: each model's full metrics by set and its per-major-group table, for the record
    and the report.
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
    result["details"] = _plain(details)
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
    """Step 6: promote or keep, with the reason. Pure, and computed once per run: the DAG's ``decide``
    task hands the result to the branch, promote, keep and record tasks.

    ``failed`` means the gate could not compare (the champion could not be evaluated): nothing is
    promoted unless ``force_promote`` is set, and a forced promotion says so (``forced``). On a
    ``dry_run`` nothing is promoted and the reason says what would have happened.
    """
    metric = params.get("gate_metric") or DEFAULT_GATE_METRIC
    min_improvement = float(params.get("min_improvement", MIN_IMPROVEMENT))
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
    dry_run = bool(params.get("dry_run"))
    if dry_run:
        reason = f"dry run, would {'promote' if promote else 'keep the champion'}: {reason}"
        promote = False
    return {
        "promote": promote,
        "reason": reason,
        "metric": metric,
        "forced": forced,
        "failed": failed,
        "dry_run": dry_run,
    }


def promote_challenger(
    engine, challenger: dict, evaluation: dict, decision: dict, *, origin: str = "weekly retrain"
) -> dict:
    """Step 7a: promote the challenger by compare-and-swap, only while the champion is still the one it
    was evaluated against (:func:`jobclass.store.registry.promote_replacing`).

    A champion promoted meanwhile (by hand, or by another retrain) is never overwritten: the refusal is
    recorded as the challenger's decision, with the reason, and :class:`StaleComparisonError` ends the
    step (a retry would compare against the wrong champion). A retry after the promotion went through
    finds the challenger champion already and succeeds.
    """
    from jobclass.store.registry import ChampionChangedError, promote_replacing, record_decision

    if not decision["promote"]:
        raise ValueError(f"the gate decided not to promote {challenger['version']}: {decision['reason']}")
    version, compared = challenger["version"], evaluation.get("champion_version")
    try:
        promote_replacing(engine, version, reason=f"{origin}: {decision['reason']}", expected=compared)
    except ChampionChangedError as exc:
        if exc.found == version:  # a retry after the promotion went through
            log.info("%s is already the champion.", version)
            return {"status": "champion", "version": version}
        why = (
            f"the champion changed from {compared} to {exc.found} during this retrain; not promoting on a stale "
            "comparison. Re-run the retrain."
        )
        refused = f"{origin}: promotion refused: {why} (the gate: {decision['reason']})"
        record_decision(engine, version, "challenger", refused)
        raise StaleComparisonError(why) from exc
    log.info("PROMOTED %s to champion: %s", version, decision["reason"])
    return {"status": "champion", "version": version}


def keep_champion(engine, challenger: dict, decision: dict, *, origin: str = "weekly retrain") -> dict:
    """Step 7b: the champion keeps serving. The challenger is rejected; it stays a challenger on a dry
    run, or when the gate failed (it was never judged)."""
    from jobclass.store.registry import record_decision

    status = "challenger" if decision.get("dry_run") or decision.get("failed") else "rejected"
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
    from jobclass.store.registry import get_model, update_metrics

    details = evaluation["details"]
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
    # Metrics and benchmark hash stored; the status decided in step 7 stays as it is.
    update_metrics(engine, model.version, scores, evaluation["benchmark_hash"])
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


def _report_sections(evaluation: dict, details: dict) -> dict[str, tuple]:
    """The sets other than the primary gate (the held-out reviewed labels among them), each titled with
    its role and hash: (challenger metrics, champion metrics, challenger groups, champion groups)."""
    sections = {}
    challenger, champion = details["challenger"], details.get("champion") or {}
    for name, facts in evaluation.get("benchmarks", {}).items():
        if name == GATE_BENCHMARK:
            continue
        title = f"{name}: {facts['role']} ({facts['rows']} rows, {facts['hash']})"
        sections[title] = (
            challenger["metrics"][name],
            champion.get("metrics", {}).get(name),
            challenger.get("groups_by_set", {}).get(name),
            champion.get("groups_by_set", {}).get(name) if champion else None,
        )
    return sections


def _report_facts(challenger: dict, training_set: dict | None, evaluation: dict) -> dict[str, Any]:
    facts: dict[str, Any] = {"Bundle": challenger["path"]}
    if evaluation.get("champion_error"):
        facts["Champion evaluation error"] = evaluation["champion_error"]
    if training_set:
        facts["Reviewed labels (train / held out)"] = (
            f"{training_set['n_labels_train']} / {training_set['n_labels_holdout']}"
        )
        facts["Reviewed labels skipped (benchmark postings, never trained on)"] = training_set.get(
            "n_labels_skipped_benchmark", 0
        )
    return facts


def run_gate(
    engine,
    challenger: dict,
    training_set: dict | None,
    params: dict[str, Any],
    *,
    origin: str,
) -> dict:
    """Steps 5 to 8 in one call: what ``jobclass train --promote`` runs. The DAG runs the same steps as
    separate tasks, so both score the two models on the same frozen sets and decide the same way."""
    evaluation = evaluate_models(engine, challenger, training_set, params)
    decision = decide(evaluation, params)
    if decision["promote"]:
        promote_challenger(engine, challenger, evaluation, decision, origin=origin)
    else:
        keep_champion(engine, challenger, decision, origin=origin)
    return record_and_report(engine, challenger, evaluation, decision, params, training_set, origin=origin)
