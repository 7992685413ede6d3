"""The training pipeline: corpus -> fine-tuned encoder -> heads -> calibrated hybrid -> metrics.

:func:`train_model` runs the steps in order; each is a function of its own that takes data and
returns a value (see :mod:`jobclass.training.dataset`, :mod:`jobclass.training.finetune`,
:mod:`jobclass.training.fit_heads` and :mod:`jobclass.training.calibration`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import jobclass
from jobclass.evaluation.benchmark import make_benchmark
from jobclass.evaluation.composed import validation_postings
from jobclass.evaluation.scoring import evaluate_classifier
from jobclass.evaluation.sets import load_benchmark
from jobclass.hashing import frame_hash
from jobclass.model.classifier import JobClassifier, ModelSettings
from jobclass.model.encoder import load_encoder
from jobclass.model.heads import HybridScorer
from jobclass.onet.taxonomy import Taxonomy, load_taxonomy
from jobclass.training import calibration
from jobclass.training.config import TrainConfig
from jobclass.training.dataset import EncodedCorpus, encode_corpus, index_sources, training_corpus
from jobclass.training.finetune import finetune
from jobclass.training.fit_heads import Heads, correct_heads, fit_heads, fit_hybrid

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


def train_model(
    config: TrainConfig | None = None,
    taxonomy: Taxonomy | None = None,
    labelled: pd.DataFrame | None = None,
    encoder_path: str | Path | None = None,
    encoder: SentenceTransformer | None = None,
) -> JobClassifier:
    """Train a complete classifier. Steps are logged with their timings.

    With ``encoder_path`` (from :func:`jobclass.training.finetune.finetune_to_dir`), or an
    ``encoder`` already loaded (the ablation harness passes one that caches its embeddings), the
    heads train on that encoder and no fine-tuning runs here. ``config`` defaults to the ``default`` recipe.
    """
    config = config or TrainConfig()
    timer = StepTimer(config.name)
    taxonomy = taxonomy or load_taxonomy()
    with timer("corpus"):
        corpus = training_corpus(config, taxonomy, labelled)
    with timer("finetune" if encoder is None and encoder_path is None else "load encoder"):
        encoder, finetune_metrics = prepare_encoder(config, corpus, taxonomy, encoder, encoder_path)
    with timer("encode corpus"):
        data = encode_corpus(encoder, corpus, config.show_progress)
    with timer("heads"):
        heads = fit_heads(data, len(taxonomy), index_sources(config), C=config.lr_c, max_iter=config.lr_max_iter)
    with timer("calibrate"):
        heads, corrections = correct_heads(heads, data, config.prior_correction, config.index_count_penalty)
        hybrid = fit_hybrid(heads, data)
        classifier = assemble_classifier(encoder, taxonomy, heads, hybrid, initial_settings(config, heads, hybrid, data))
        classifier, review = calibrate(classifier, config, corpus, taxonomy)
        _log_calibration(classifier, corrections)
    metadata = {**corrections, **review, **model_metadata(config, corpus, finetune_metrics, hybrid)}
    with timer("evaluate"):
        metrics = evaluate(classifier, config.benchmarks, taxonomy, config.benchmark_limit)
    metadata.update(
        metrics=metrics,
        benchmark_hash=metrics.get("reported-titles", {}).get("benchmark_hash"),
        timings_s=timer.timings(),
    )
    log.info("[train %s] finished in %.1fs: %s", config.name, timer.elapsed(), _headline(metrics))
    return replace(classifier, metadata=metadata)


def bootstrap_model(taxonomy: Taxonomy | None = None, config: TrainConfig | None = None) -> JobClassifier:
    """The first model on a fresh install: the ``bootstrap`` recipe (see :mod:`jobclass.training.recipes`)."""
    config = config or TrainConfig.recipe("bootstrap")
    log.warning(
        "No champion model: bootstrapping the light '%s' model (base MiniLM, no fine-tuning). "
        "Run `jobclass train` for the full model.", config.name,
    )
    return train_model(config, taxonomy)


# -- the steps ------------------------------------------------------------------------------------
def prepare_encoder(
    config: TrainConfig,
    corpus: pd.DataFrame,
    taxonomy: Taxonomy,
    encoder: SentenceTransformer | None = None,
    encoder_path: str | Path | None = None,
) -> tuple[SentenceTransformer, dict[str, float]]:
    """The encoder the heads train on, and its fine-tuning metrics: ``encoder`` as given (no
    metrics), else the one saved at ``encoder_path`` (its ``finetune_metrics.json``), else the base
    encoder fine-tuned here as ``config`` says."""
    if encoder is not None:
        return encoder, {}
    if encoder_path is not None:
        metrics_file = Path(encoder_path) / "finetune_metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        return load_encoder(encoder_path, device=config.device), metrics
    return finetune(config, corpus, taxonomy)


def initial_settings(config: TrainConfig, heads: Heads, hybrid: HybridScorer, data: EncodedCorpus) -> ModelSettings:
    """The inference settings before calibration: ``config``'s body weight and duty gate, and the
    review threshold fitted on the validation titles (the default without them)."""
    settings = ModelSettings(body_weight=config.body_weight, min_duty_score=config.body_min_duty_score)
    if not data.has_validation:
        return settings
    probs = hybrid.proba(heads.features(data.X_val))
    return replace(settings, review_threshold=calibration.validation_review_threshold(probs, data.y_val))


def assemble_classifier(
    encoder: SentenceTransformer, taxonomy: Taxonomy, heads: Heads, hybrid: HybridScorer, settings: ModelSettings
) -> JobClassifier:
    """The classifier of fitted parts, over the taxonomy's full label space."""
    return JobClassifier(
        encoder=encoder,
        labels=taxonomy.labels_frame(),
        logistic=heads.logistic,
        index=heads.index,
        profile=heads.profile,
        hybrid=hybrid,
        settings=settings,
    )


def calibrate(
    classifier: JobClassifier, config: TrainConfig, corpus: pd.DataFrame, taxonomy: Taxonomy
) -> tuple[JobClassifier, dict[str, Any]]:
    """``classifier`` calibrated for postings, and the metadata of the calibration.

    With ``config.fit_body_weight``, the body weight and the posting temperature are fitted on
    postings composed from the corpus's validation split; with ``review_threshold_from`` set to
    ``real-postings``, the review threshold is then refitted on the real postings (reported in the
    metadata's ``review``).
    """
    postings = validation_postings(corpus)
    if config.fit_body_weight and len(postings):
        weight, scale = calibration.fit_posting_calibration(classifier, postings)
        classifier = replace(classifier, settings=replace(classifier.settings, body_weight=weight, body_logit_scale=scale))
    if config.review_threshold_from != "real-postings":
        return classifier, {}
    review = calibration.fit_review_on_real_postings(classifier, taxonomy)
    classifier = replace(classifier, settings=replace(classifier.settings, review_threshold=review["threshold_all"]))
    return classifier, {"review": review}


def model_metadata(
    config: TrainConfig,
    corpus: pd.DataFrame,
    finetune_metrics: dict[str, float],
    hybrid: HybridScorer,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The version (time, recipe and corpus hash) and the provenance of a model trained on ``corpus``."""
    created = created or datetime.now(UTC)
    corpus_hash = frame_hash(corpus, ["text", "code", "split"])
    train = corpus[corpus["split"] == "train"]
    return {
        "version": f"{created:%Y%m%dT%H%M%SZ}-{config.name}-{corpus_hash[7:15]}",
        "created_at": created.isoformat(),
        "recipe": config.name,
        "base_encoder": f"sentence-transformers/{config.base_encoder}",
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "training_corpus_hash": corpus_hash,
        "training_corpus_size": {"train": len(train), "validation": int((corpus["split"] == "validation").sum())},
        "extra_titles": {name: int((train["source"] == name).sum()) for name in config.extra_title_sources},
        "finetune": finetune_metrics,
        "hybrid_weights": hybrid.weights.tolist(),
        "versions": library_versions(),
    }


def evaluate(
    classifier: JobClassifier, names: tuple[str, ...], taxonomy: Taxonomy, limit: int | None = None
) -> dict[str, dict[str, Any]]:
    """The metrics of ``classifier`` on each named benchmark."""
    return {name: evaluate_on(classifier, name, taxonomy, limit) for name in names}


def evaluate_on(classifier: JobClassifier, name: str, taxonomy: Taxonomy, limit: int | None = None) -> dict[str, Any]:
    """The metrics on benchmark ``name``, on a fixed subsample of ``limit`` rows if it is larger."""
    benchmark = load_benchmark(name, taxonomy)
    if limit and len(benchmark) > limit:
        benchmark = make_benchmark(name, benchmark.frame.sample(n=limit, random_state=0))
    return evaluate_classifier(classifier, benchmark)


# -- helpers --------------------------------------------------------------------------------------
class StepTimer:
    """Wall time of each named step of a training run, logged as it ends."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.started = time.perf_counter()
        self._timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self._timings[name] = round(time.perf_counter() - t0, 1)
        log.info("[train %s] %s done in %.1fs", self.run, name, self._timings[name])

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def timings(self) -> dict[str, float]:
        """Each step's seconds, and the total."""
        return {**self._timings, "total": round(self.elapsed(), 1)}


def library_versions() -> dict[str, str]:
    import sentence_transformers
    import sklearn
    import torch
    import transformers

    return {
        "jobclass": jobclass.__version__,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _log_calibration(classifier: JobClassifier, corrections: dict[str, float]) -> None:
    log.info(
        "Prior correction %s, index count penalty %s, hybrid weights %s, review threshold %.3f, body weight %.2f, "
        "posting logit scale %.2f", corrections.get("prior_correction"), corrections.get("index_count_penalty"),
        classifier.hybrid.weights.tolist(), classifier.settings.review_threshold, classifier.settings.body_weight,
        classifier.settings.body_logit_scale,
    )


def _headline(metrics: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: acc@1={m['acc@1']:.3f} acc@5={m['acc@5']:.3f} mrr@10={m['mrr@10']:.3f}" for name, m in metrics.items()
    )
