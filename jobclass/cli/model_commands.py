"""``jobclass train``, ``jobclass evaluate`` and ``jobclass predict``."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from jobclass.evaluation.metrics import KS
from jobclass.evaluation.sets import BENCHMARK_NAMES
from jobclass.model.base_encoders import BASE_ENCODERS
from jobclass.training.recipes import DEFAULT_RECIPE, RECIPE_NAMES, describe

console = Console()
log = logging.getLogger(__name__)

METRIC_COLUMNS = [f"{m}@{k}" for m in ("acc", "precision", "recall", "mrr", "ndcg") for k in KS] + [
    "soc6_acc@1",
    "major_acc@1",
]


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model on the O*NET corpus (+ labelled postings) and register it")
    train.add_argument("--recipe", choices=list(RECIPE_NAMES), default=DEFAULT_RECIPE, help=describe())
    train.add_argument("--epochs", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--max-pairs", type=int, help="cap on fine-tuning examples")
    train.add_argument("--max-steps", type=int, help="cap on fine-tuning steps: the time budget")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"])
    train.add_argument(
        "--checkpoint-dir", type=Path,
        help="keep a checkpoint of the fine-tuning here every --checkpoint-every steps; run the same command "
        "again after an interruption and it resumes there (the checkpoint is removed when the fit ends)",
    )
    train.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 200)")
    train.add_argument(
        "--base-encoder", choices=list(BASE_ENCODERS), help="the pretrained encoder (all-mpnet-base-v2: `make mpnet` first)"
    )
    train.add_argument("--labelled", type=Path, help="labelled postings, CSV or Parquet (title/body/onet_code or TITLE_RAW/BODY/ONET)")
    train.add_argument("--output", type=Path, help="bundle directory (default: data/models/<version>)")
    train.add_argument(
        "--promote",
        choices=["if-better", "always", "never"],
        default="if-better",
        help="if-better: the retrain's gate (both models scored now on the frozen reported-titles set); "
        "always: promote even if not better (recorded as forced); never: score and record only",
    )
    train.add_argument(
        "--eval-limit",
        type=int,
        help="score the gate on a fixed subsample of this many rows of each benchmark (default: all; tiny recipe: 200)",
    )
    train.add_argument("--database-url", help="registry database (default: the embedded SQLite)")
    train.set_defaults(handler=cmd_train)

    evaluate = sub.add_parser("evaluate", help="score a model (and the baselines) on a frozen benchmark")
    evaluate.add_argument("--benchmark", action="append", choices=list(BENCHMARK_NAMES))
    evaluate.add_argument("--model", type=Path, help="bundle directory (default: the champion)")
    evaluate.add_argument("--baselines", action="store_true", help="also score TF-IDF and untrained-MiniLM anchors")
    evaluate.add_argument("--title-only", action="store_true", help="ignore posting bodies")
    evaluate.add_argument("--by-major-group", action="store_true", help="print the per-major-group table")
    evaluate.add_argument("--reliability", action="store_true", help="print the calibration (reliability) table")
    evaluate.add_argument("--json", type=Path, help="write every metric to this JSON file")
    evaluate.add_argument("--database-url")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = sub.add_parser("predict", help="rank occupations for one posting")
    predict.add_argument("--title", required=True)
    predict.add_argument("--body", default="")
    predict.add_argument("--top-k", type=int, default=5)
    predict.add_argument("--model", type=Path, help="bundle directory (default: the champion)")
    predict.add_argument("--database-url")
    predict.set_defaults(handler=cmd_predict)


# -- model resolution ---------------------------------------------------------------------------
def resolve_model_path(model: Path | None, database_url: str | None) -> Path:
    """An explicit bundle, else the registry's champion; the error says what to run."""
    if model is not None:
        return model
    from jobclass.store.registry import get_champion
    from jobclass.store.schema import open_database

    champion = get_champion(open_database(database_url))
    if champion is None:
        raise RuntimeError("no champion model is registered: run `jobclass train` (or `jobclass train --recipe bootstrap`).")
    return Path(champion.path)


# -- train ----------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from jobclass.model.bundle import save_bundle
    from jobclass.onet.corpus import read_labelled_postings
    from jobclass.paths import models_dir
    from jobclass.training.config import TrainConfig, with_overrides
    from jobclass.training.train import train_model

    base = TrainConfig.recipe(args.recipe)
    config = with_overrides(
        base,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_pairs=args.max_pairs,
        max_steps=args.max_steps,
        device=args.device,
        base_encoder=args.base_encoder,
        checkpoint_dir=str(args.checkpoint_dir) if args.checkpoint_dir else None,
        checkpoint_every=args.checkpoint_every,
    )
    labelled = read_labelled_postings(args.labelled) if args.labelled else None
    console.print(f"[bold]Training[/bold] recipe={config.name} epochs={config.epochs} batch={config.batch_size} device={config.device}")
    started = time.perf_counter()
    classifier = train_model(config, labelled=labelled)
    path = save_bundle(classifier, args.output or models_dir() / classifier.version)
    wall = time.perf_counter() - started
    for bench_name, metrics in classifier.metadata["metrics"].items():
        print_metrics_table({classifier.version: metrics}, title=bench_name)
    console.print(f"Saved [bold]{classifier.version}[/bold] to {path} in {wall / 60:.1f} min")
    eval_limit = args.eval_limit if args.eval_limit is not None else config.benchmark_limit
    register_and_gate(classifier.version, path, classifier.metadata, args.promote, args.database_url, eval_limit)
    return 0


def register_and_gate(
    version: str,
    path: Path,
    metadata: dict[str, Any],
    promote: str,
    database_url: str | None,
    eval_limit: int | None = None,
) -> dict[str, Any]:
    """Register the new model, then the weekly retrain's gate (:func:`jobclass.pipeline.gate.run_gate`).

    Both models are scored now on the same frozen reported-titles set (one hash): a champion score
    stored earlier, possibly on another subset or benchmark version, is never compared against.
    ``always`` is the DAG's ``force_promote`` (recorded as forced), ``never`` its ``dry_run``.
    Raises :class:`jobclass.pipeline.errors.GateFailedError` (after recording) when the champion
    cannot be evaluated.
    """
    from jobclass.pipeline.gate import run_gate
    from jobclass.store.registry import register_model
    from jobclass.store.schema import open_database

    engine = open_database(database_url)
    register_model(engine, version, path, metadata.get("metrics", {}), metadata.get("benchmark_hash"))
    params = {"eval_limit": eval_limit, "force_promote": promote == "always", "dry_run": promote == "never"}
    challenger = {"version": version, "path": str(path)}
    result = run_gate(engine, challenger, None, params, origin="jobclass train")
    colour = "green" if result["decision"].startswith("promoted") else "yellow"
    console.print(f"[{colour}]{version}: {result['decision']}[/{colour}] ({result['reason']})")
    console.print(f"Report: {result['report']}")
    return result


# -- evaluate -------------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from jobclass.evaluation.baselines import run_baselines
    from jobclass.evaluation.metrics import per_major_group, reliability_table
    from jobclass.evaluation.scoring import benchmark_labels, classifier_scores, evaluate_parts, evaluate_probabilities
    from jobclass.evaluation.sets import load_benchmark
    from jobclass.model.bundle import load_bundle
    from jobclass.onet.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    benchmarks = [load_benchmark(name, taxonomy) for name in (args.benchmark or ["reported-titles"])]
    path = resolve_model_path(args.model, args.database_url)
    classifier = load_bundle(path)
    console.print(f"Model [bold]{classifier.version}[/bold] ({classifier.metadata.get('recipe', '?')} recipe) from {path}")
    results: dict[str, dict[str, dict]] = {}
    for benchmark in benchmarks:
        started = time.perf_counter()
        probs = classifier_scores(classifier, benchmark, use_body=not args.title_only)
        results.setdefault(benchmark.name, {})["model"] = evaluate_probabilities(
            probs, benchmark, classifier.codes, classifier.settings.review_threshold
        )
        if benchmark.name == "composed-postings" and not args.title_only:
            title_only = classifier_scores(classifier, benchmark, use_body=False)
            results[benchmark.name]["model, title only"] = evaluate_probabilities(
                title_only, benchmark, classifier.codes, classifier.settings.review_threshold
            )
        if "form" in benchmark.frame.columns:  # real-postings: titled and untitled postings apart
            for form, metrics in evaluate_parts(
                probs, benchmark, classifier.codes, "form", classifier.settings.review_threshold
            ).items():
                results[benchmark.name][f"model, {form}"] = metrics
        log.info("%s scored in %.1fs", benchmark.name, time.perf_counter() - started)
        y = benchmark_labels(benchmark, classifier.codes)
        if args.by_major_group:
            print_frame(per_major_group(probs, y, classifier.codes), f"{benchmark.name}: {classifier.version} by major group")
        if args.reliability:
            table = reliability_table(probs.max(axis=1), probs.argmax(axis=1) == y)
            print_frame(table, f"{benchmark.name}: reliability of the top-1 score")
    if args.baselines:
        for baseline, bench_name, metrics in run_baselines(taxonomy, benchmarks):
            results[bench_name][baseline] = metrics
    fitted_on = (classifier.metadata.get("review") or {}).get("benchmark")
    for bench_name, rows in results.items():
        first = next(iter(rows.values()))
        print_metrics_table(rows, title=f"{bench_name} (n={int(first['n'])}, {first['benchmark_hash'][:19]}…)")
        if bench_name == fitted_on:
            console.print(
                f"[yellow]in-sample:[/yellow] auto_accept_share and auto_accept_precision above use the bundle's review "
                f"threshold, which was fitted on these {bench_name} rows; the cross-validated figures are in the "
                f"bundle's metadata ('review': accept_share, precision)."
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


# -- predict --------------------------------------------------------------------------------------
def cmd_predict(args: argparse.Namespace) -> int:
    from jobclass.model.bundle import load_bundle

    classifier = load_bundle(resolve_model_path(args.model, args.database_url))
    ranked = classifier.predict(args.title, args.body, top_k=args.top_k)
    table = Table(title=f"{args.title!r} — model {classifier.version}")
    for column in ("rank", "code", "title", "score", "6-digit SOC (score)", "evidence"):
        table.add_column(column)
    for p in ranked:
        table.add_row(str(p.rank), p.code, p.title, f"{p.score:.3f}", f"{p.soc6_code} ({p.soc6_score:.2f})", p.evidence)
    console.print(table)
    top = ranked[0]
    verdict = "auto-accept" if not top.needs_review else f"needs review (confident at the {top.backoff_level} level)"
    console.print(f"Top-1 {top.code}: {verdict}")
    return 0


# -- output ---------------------------------------------------------------------------------------
def print_metrics_table(rows: dict[str, dict[str, Any]], title: str = "metrics") -> None:
    """One column per model, one row per metric: readable at 80 columns."""
    extra = [c for c in ("lenient_acc@1", "ece", "auto_accept_share", "auto_accept_precision") if any(c in m for m in rows.values())]
    table = Table(title=title)
    table.add_column("metric")
    for name in rows:
        table.add_column(name, justify="right", overflow="fold")
    for metric in METRIC_COLUMNS + extra:
        table.add_row(metric, *[f"{m[metric]:.3f}" if metric in m else "" for m in rows.values()])
    console.print(table)


def print_frame(frame, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
