"""The training pipeline: corpus -> fine-tuned encoder -> heads -> calibrated hybrid -> metrics."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark
from jobclass.evaluation.composed import validation_postings
from jobclass.evaluation.sets import excluded_titles, load_benchmark
from jobclass.hashing import bucket, frame_hash
from jobclass.model.base_encoders import MINILM, base_encoder_dir
from jobclass.model.classifier import JobClassifier, ModelSettings
from jobclass.model.cleaning import DUTY_SENTENCE_SCORE
from jobclass.model.encoder import encode, load_encoder
from jobclass.model.heads import HybridScorer, LogisticHead, ProfileHead, SemanticIndex, label_log_prior
from jobclass.training import calibration
from jobclass.training.calibration import TARGET_AUTO_ACCEPT_PRECISION
from jobclass.training.corpus import add_extra_titles, build_corpus, contrastive_pairs
from jobclass.training.finetune import FinetuneSettings, ProxySettings, finetune_encoder
from jobclass.training.taxonomy import Taxonomy, load_taxonomy
from jobclass.training.title_sources import benchmark_title_keys, fine_tuning_pairs, labelled_titles

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

INDEX_SOURCES = ("official_title", "alternate_title", "short_title", "description", "labelled")
TITLE_VIEWS = ("alternate_title", "short_title")


@dataclass(frozen=True)
class TrainConfig:
    """What ``jobclass train`` and the weekly retrain can tune. Defaults fit 2 CPU cores."""

    epochs: float = 3.0
    batch_size: int = 64
    learning_rate: float = 5e-5
    max_pairs: int | None = None  # cap on fine-tuning pairs (None: every training text)
    max_steps: int | None = None  # cap on fine-tuning steps (the time budget)
    device: str = "auto"
    finetune: bool = True
    # "proxy": normalised softmax over one learned proxy per occupation, initialised at its official
    # title; "mnrl": (title, occupation title, sibling title) triples (see jobclass.training.finetune).
    finetune_objective: str = "proxy"
    # Fine-tuning views of each occupation: its titles and its (training-split) task statements;
    # an extra title source named here (see extra_title_sources) is fine-tuned on too.
    finetune_sources: tuple[str, ...] = (*TITLE_VIEWS, "task")
    finetune_max_seq_length: int = 24
    proxy_scale: float = ProxySettings.scale
    proxy_margin: float = ProxySettings.margin
    # How often a field title (incumbent-reported or from job postings) is drawn per epoch.
    field_title_weight: int = 1
    max_per_code: int | None = None  # cap on corpus rows per occupation (tiny models)
    # Labelled title sources of jobclass.training.title_sources (dmtf, dol_h2, esco) whose titles, those new
    # to the corpus, train the heads; benchmark titles are removed. Each is kept only if the ablation
    # (benchmarks/ablation_signals.py) shows that it helps on held-out real postings.
    extra_title_sources: tuple[str, ...] = ()
    extra_titles_weak: bool = False  # also rows whose code is one of several candidates
    extra_titles_max_per_code: int | None = None  # per (source, code); None: every row
    extra_titles_in_index: bool = True  # also entries of the nearest-title index
    # Unlabelled pair sources of jobclass.training.title_sources (questionnaires: title and duty item;
    # usajobs_series: two titles of one OPM series) for an MNRL stage before the main fine-tuning.
    finetune_pair_sources: tuple[str, ...] = ()
    pair_epochs: float = 1.0
    pair_max_steps: int | None = None
    pair_max_seq_length: int = 64
    # Strength of the training-prior correction of the LR head (see LogisticHead.prior_corrected);
    # None: fitted on class-balanced validation likelihood.
    prior_correction: float | None = None
    # The semantic index's penalty per log(1 + entries) of a label (see SemanticIndex); None: fitted
    # the same way.
    index_count_penalty: float | None = None
    lr_c: float = 10.0
    lr_max_iter: int = 300
    body_weight: float = 0.5
    fit_body_weight: bool = True
    # Body sentences under this duty score are not read (see ModelSettings.min_duty_score).
    body_min_duty_score: float = DUTY_SENTENCE_SCORE
    benchmarks: tuple[str, ...] = ("reported-titles", "composed-postings", "ad-titles", "real-postings")
    # Where the review threshold is fitted: "real-postings" (the hand-coded postings, reported with
    # cross-validation) or "validation" (held-out O*NET titles, as before; tests use it).
    review_threshold_from: str = "real-postings"
    benchmark_limit: int | None = None  # evaluate on a fixed subsample (tests)
    seed: int = 0
    show_progress: bool = True
    name: str = "default"
    # The pretrained encoder to start from (jobclass.model.base_encoders): MiniLM, or the opt-in mpnet.
    base_encoder: str = MINILM

    @classmethod
    def tiny(cls) -> TrainConfig:
        """Seconds, not minutes: for tests. Full label space, little data, a few steps."""
        return cls(
            epochs=1, batch_size=16, max_pairs=64, max_steps=4, max_per_code=2, lr_max_iter=60,
            benchmark_limit=200, show_progress=False, review_threshold_from="validation", name="tiny",
        )

    @classmethod
    def recipe(cls, name: str) -> TrainConfig:
        """A named recipe: ``default`` (proxy softmax), ``titles``, ``mnrl``, ``bootstrap`` or ``tiny``."""
        recipes = {
            "default": cls, "titles": cls.titles, "mnrl": cls.mnrl, "bootstrap": cls.bootstrap, "tiny": cls.tiny,
        }
        if name not in recipes:
            raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(recipes)}")
        return recipes[name]()

    @classmethod
    def titles(cls) -> TrainConfig:
        """The earlier default: titles as the only fine-tuning views, 2 epochs."""
        return cls(finetune_sources=TITLE_VIEWS, epochs=2.0, name="titles")

    @classmethod
    def mnrl(cls) -> TrainConfig:
        """The earlier default: one epoch of MNRL on (title, occupation title, sibling title) triples."""
        return cls(finetune_objective="mnrl", finetune_sources=TITLE_VIEWS, epochs=1.0, name="mnrl")

    @classmethod
    def bootstrap(cls) -> TrainConfig:
        """The light first model: the base encoder, untuned, with trained heads (~5 min on 2 cores)."""
        return cls(finetune=False, name="bootstrap")


def _cap_per_code(corpus: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows of each source kind per code, chosen by a stable hash; official titles kept."""
    order = corpus.assign(_k=corpus["text"].map(lambda t: bucket(f"cap:{t}", 1 << 30))).sort_values("_k")
    capped = order.groupby(["code", "split", "kind"], sort=False).head(n)
    official = corpus[corpus["source"] == "official_title"]
    return pd.concat([capped.drop(columns="_k"), official]).drop_duplicates(["text", "code"]).sort_index()


def choose_review_threshold(probs: np.ndarray, y: np.ndarray, precision: float = TARGET_AUTO_ACCEPT_PRECISION) -> float:
    """The lowest top-1 score whose accepted share still reaches ``precision`` on validation."""
    return calibration.choose_review_threshold(probs.max(axis=1), probs.argmax(axis=1) == y, precision)


def fit_review_on_real_postings(classifier: JobClassifier, taxonomy: Taxonomy) -> dict[str, Any]:
    """Set the review threshold so that accepted real postings are right at the target precision.

    The threshold is fitted on every row of the hand-coded real-postings benchmark, read as the
    nightly reads a posting; the precision and accepted share it is reported with come from
    5-fold cross-validation (:func:`jobclass.training.calibration.cross_validated_review`).
    """
    from jobclass.evaluation.scoring import benchmark_labels, classifier_scores, lenient_hits

    bench = load_benchmark("real-postings", taxonomy)
    probs = classifier_scores(classifier, bench)
    correct = probs.argmax(axis=1) == benchmark_labels(bench, classifier.codes)
    estimate = calibration.cross_validated_review(probs.max(axis=1), correct, lenient_hits(probs, bench, classifier.codes))
    classifier.settings.review_threshold = estimate.threshold_all
    log.info(
        "Review threshold %.3f from real-postings (%s): 5-fold CV accepts %.1f%% at precision %.3f (lenient %.3f)",
        estimate.threshold_all, bench.content_hash[:19], 100 * estimate.accept_share, estimate.precision,
        estimate.lenient_precision,
    )
    return {"benchmark": bench.name, "benchmark_hash": bench.content_hash, **estimate.as_dict()}


def library_versions() -> dict[str, str]:
    import sentence_transformers
    import sklearn
    import torch
    import transformers

    import jobclass

    return {
        "jobclass": jobclass.__version__,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def training_corpus(config: TrainConfig, taxonomy: Taxonomy, labelled: pd.DataFrame | None = None) -> pd.DataFrame:
    """The leakage-free corpus that ``config`` trains on, with its extra title sources."""
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy), labelled, config.body_min_duty_score)
    if config.max_per_code:
        corpus = _cap_per_code(corpus, config.max_per_code)
    if config.extra_title_sources:  # after the cap, which extra_titles_max_per_code does for them
        titles = labelled_titles(config.extra_title_sources, benchmark_title_keys(taxonomy), config.extra_titles_weak)
        corpus = add_extra_titles(corpus, titles, taxonomy, config.extra_titles_max_per_code)
        log.info("Extra titles: %s", {s: int((corpus["source"] == s).sum()) for s in config.extra_title_sources})
    return corpus


def index_sources(config: TrainConfig) -> tuple[str, ...]:
    """The corpus sources whose training rows are entries of the nearest-title index."""
    return (*INDEX_SOURCES, *config.extra_title_sources) if config.extra_titles_in_index else INDEX_SOURCES


def finetune(config: TrainConfig, corpus: pd.DataFrame, taxonomy: Taxonomy) -> tuple[SentenceTransformer, dict[str, float]]:
    """The base encoder, fine-tuned with ``config``'s objective (proxy softmax or MNRL), and its metrics."""
    encoder = load_encoder(base_encoder_dir(config.base_encoder), device=config.device)
    if not config.finetune:
        return encoder, {}
    if config.finetune_objective not in ("mnrl", "proxy"):
        raise ValueError(f"finetune_objective must be 'mnrl' or 'proxy', not {config.finetune_objective!r}")
    pair_metrics = _finetune_pairs(config, encoder, taxonomy) if config.finetune_pair_sources else {}
    if config.finetune_objective == "proxy":
        return encoder, {**pair_metrics, **_finetune_proxy(config, encoder, corpus, taxonomy)}
    anchors = corpus[corpus["source"].isin(config.finetune_sources)]
    pairs = contrastive_pairs(anchors, taxonomy, config.max_pairs)
    val_pairs = contrastive_pairs(anchors, taxonomy, min(2000, config.max_pairs or 2000), split="validation")
    settings = _finetune_settings(config, FinetuneSettings)
    metrics = finetune_encoder(encoder, pairs, settings, validation_pairs=val_pairs if len(val_pairs) >= config.batch_size else None)
    return encoder, {**pair_metrics, **metrics}


def _finetune_pairs(config: TrainConfig, encoder: SentenceTransformer, taxonomy: Taxonomy) -> dict[str, float]:
    """An MNRL stage on ``config``'s unlabelled pairs (in-batch negatives), before the main objective:
    real federal titles drawn towards their duties and towards the titles of their series."""
    pairs = fine_tuning_pairs(config.finetune_pair_sources, benchmark_title_keys(taxonomy), config.seed)
    settings = replace(
        _finetune_settings(config, FinetuneSettings),
        epochs=config.pair_epochs, max_steps=config.pair_max_steps, max_seq_length=config.pair_max_seq_length,
    )
    metrics = finetune_encoder(encoder, pairs, settings)
    return {f"pairs_{k}": v for k, v in metrics.items()} | {"pairs": float(len(pairs))}


def _finetune_settings(config: TrainConfig, kind: type[FinetuneSettings]) -> FinetuneSettings:
    """The fine-tuning settings ``config`` sets, for either objective."""
    return kind(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        max_steps=config.max_steps, max_seq_length=config.finetune_max_seq_length,
        seed=config.seed, show_progress=config.show_progress,
    )


def proxy_training_rows(config: TrainConfig, corpus: pd.DataFrame) -> pd.DataFrame:
    """The training-split rows of ``config``'s views (plus official titles) that proxy fine-tuning sees."""
    train = corpus[(corpus["split"] == "train") & corpus["source"].isin((*config.finetune_sources, "official_title"))]
    if config.field_title_weight > 1:
        field = train[train["field_title"]]
        train = pd.concat([train, *[field] * (config.field_title_weight - 1)], ignore_index=True)
    if config.max_pairs is not None and len(train) > config.max_pairs:
        train = train.sample(n=config.max_pairs, random_state=config.seed)
    return train


def _finetune_proxy(config: TrainConfig, encoder: SentenceTransformer, corpus: pd.DataFrame, taxonomy: Taxonomy) -> dict[str, float]:
    from jobclass.model.cleaning import clean_title
    from jobclass.training.finetune import finetune_proxy_softmax

    train = proxy_training_rows(config, corpus)
    init = encode(encoder, [clean_title(t) for t in taxonomy.occupations["title"]])
    settings = replace(_finetune_settings(config, ProxySettings), scale=config.proxy_scale, margin=config.proxy_margin)
    return finetune_proxy_softmax(encoder, train["text"].tolist(), train["label"].to_numpy(), init, settings)


def finetune_stage(
    config: TrainConfig, out_dir: str | Path, taxonomy: Taxonomy | None = None, labelled: pd.DataFrame | None = None
) -> tuple[Path, dict[str, float]]:
    """Fine-tune and save the encoder to ``out_dir``: the first half of a two-step retrain."""
    taxonomy = taxonomy or load_taxonomy()
    encoder, metrics = finetune(config, training_corpus(config, taxonomy, labelled), taxonomy)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    encoder.save(str(out_dir))
    (out_dir / "finetune_metrics.json").write_text(json.dumps(metrics))
    log.info("Encoder saved to %s (fine-tuning %s on %s)", out_dir, metrics, encoder.device)
    return out_dir, metrics


def train_model(
    config: TrainConfig = TrainConfig(),
    taxonomy: Taxonomy | None = None,
    labelled: pd.DataFrame | None = None,
    encoder_path: str | Path | None = None,
    encoder: SentenceTransformer | None = None,
) -> JobClassifier:
    """Train a complete classifier. Steps are logged with their timings.

    With ``encoder_path`` (from :func:`finetune_stage`), or an ``encoder`` already loaded (the
    ablation harness passes one that caches its embeddings), the heads train on that encoder and
    no fine-tuning runs here.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        log.info("[train %s] %s done in %.1fs", config.name, name, timings[name])

    t0 = time.perf_counter()
    taxonomy = taxonomy or load_taxonomy()
    corpus = training_corpus(config, taxonomy, labelled)
    corpus_hash = frame_hash(corpus, ["text", "code", "split"])
    train = corpus[corpus["split"] == "train"].reset_index(drop=True)
    validation = corpus[corpus["split"] == "validation"].reset_index(drop=True)
    log.info("Corpus: %d training and %d validation texts over %d codes", len(train), len(validation), train["code"].nunique())
    step("corpus", t0)

    t0 = time.perf_counter()
    if encoder is not None:
        finetune_metrics = {}
    elif encoder_path is not None:
        encoder = load_encoder(encoder_path, device=config.device)
        metrics_file = Path(encoder_path) / "finetune_metrics.json"
        finetune_metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    else:
        encoder, finetune_metrics = finetune(config, corpus, taxonomy)
        step("finetune", t0)

    t0 = time.perf_counter()
    X = encode(encoder, train["text"].tolist(), show_progress=config.show_progress)
    val_titles = validation[validation["kind"] == "title"]
    X_val = encode(encoder, val_titles["text"].tolist(), show_progress=config.show_progress)
    y = train["label"].to_numpy()
    y_val = val_titles["label"].to_numpy()
    step("encode corpus", t0)

    t0 = time.perf_counter()
    n_labels = len(taxonomy)
    logistic = LogisticHead.fit(X, y, n_labels, C=config.lr_c, max_iter=config.lr_max_iter)
    step("logistic head", t0)

    in_index = train["source"].isin(index_sources(config)).to_numpy()
    index = SemanticIndex.build(X[in_index], y[in_index], train["text"][in_index].tolist(), n_labels)
    official = train[train["source"] == "official_title"]
    fallback = np.zeros((n_labels, X.shape[1]), dtype=np.float32)
    fallback[official["label"].to_numpy()] = X[official.index.to_numpy()]
    profile = ProfileHead.fit(X, y, n_labels, fallback)

    t0 = time.perf_counter()
    classifier = JobClassifier(
        encoder=encoder,
        labels=taxonomy.labels_frame(),
        logistic=logistic,
        index=index,
        profile=profile,
        hybrid=HybridScorer(weights=np.array([1.0, 20.0, 20.0], dtype=np.float32)),
        settings=ModelSettings(body_weight=config.body_weight, min_duty_score=config.body_min_duty_score),
    )
    if len(val_titles):
        log_prior = label_log_prior(y, n_labels)
        profile_val = profile.scores(X_val)
        strength = config.prior_correction
        if strength is None:
            strength = fit_prior_correction(logistic, X_val, y_val, [index.label_scores(X_val), profile_val], log_prior)
        classifier.logistic = logistic.prior_corrected(log_prior, strength)
        penalty = config.index_count_penalty
        if penalty is None:
            penalty = fit_index_count_penalty(index, X_val, y_val, classifier.logistic.log_proba(X_val), profile_val)
        classifier.index = replace(index, count_penalty=penalty)
        classifier.metadata.update(prior_correction=strength, index_count_penalty=penalty)
        features = classifier.features(X_val)
        classifier.hybrid = HybridScorer.fit(features, y_val)
        probs_val = classifier.hybrid.proba(features)
        classifier.settings.review_threshold = choose_review_threshold(probs_val, y_val)
    postings = validation_postings(corpus)
    if config.fit_body_weight and len(postings):
        settings = classifier.settings
        settings.body_weight, settings.body_logit_scale = fit_posting_calibration(classifier, postings)
    if config.review_threshold_from == "real-postings":
        classifier.metadata["review"] = fit_review_on_real_postings(classifier, taxonomy)
    log.info(
        "Prior correction %s, index count penalty %s, hybrid weights %s, review threshold %.3f, body weight %.2f, "
        "posting logit scale %.2f", classifier.metadata.get("prior_correction"),
        classifier.metadata.get("index_count_penalty"), classifier.hybrid.weights.tolist(),
        classifier.settings.review_threshold, classifier.settings.body_weight, classifier.settings.body_logit_scale,
    )
    step("calibrate", t0)

    created = datetime.now(UTC)
    classifier.metadata = {
        **classifier.metadata,
        "version": f"{created:%Y%m%dT%H%M%SZ}-{config.name}-{corpus_hash[7:15]}",
        "created_at": created.isoformat(),
        "recipe": config.name,
        "base_encoder": f"sentence-transformers/{config.base_encoder}",
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "training_corpus_hash": corpus_hash,
        "training_corpus_size": {"train": len(train), "validation": len(validation)},
        "extra_titles": {name: int((train["source"] == name).sum()) for name in config.extra_title_sources},
        "finetune": finetune_metrics,
        "hybrid_weights": classifier.hybrid.weights.tolist(),
        "versions": library_versions(),
    }

    t0 = time.perf_counter()
    metrics: dict[str, Any] = {}
    for name in config.benchmarks:
        metrics[name] = evaluate_on(classifier, name, taxonomy, config.benchmark_limit)
    classifier.metadata["metrics"] = metrics
    classifier.metadata["benchmark_hash"] = metrics.get("reported-titles", {}).get("benchmark_hash")
    step("evaluate", t0)
    classifier.metadata["timings_s"] = {**timings, "total": round(time.perf_counter() - started, 1)}
    log.info("[train %s] finished in %.1fs: %s", config.name, time.perf_counter() - started, _headline(metrics))
    return classifier


PRIOR_CORRECTION_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
INDEX_COUNT_PENALTY_GRID = (0.0, 0.02, 0.04, 0.06, 0.08)
BODY_WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def best_on_balanced_validation(
    name: str, grid: tuple[float, ...], features_for: Callable[[float], list[np.ndarray]], y: np.ndarray
) -> float:
    """The value of ``grid`` whose hybrid features, the hybrid refitted on them, give the best
    class-balanced likelihood of the validation labels ``y``.

    Each row weighs 1 / (its label's count), so that every occupation counts the same: the prior
    of the postings to be coded is unknown, and O*NET's title counts per code are no estimate of it.
    """
    from scipy.special import log_softmax

    rows = np.arange(len(y))
    weights = 1.0 / np.bincount(y)[y]
    weights /= weights.sum()

    def balanced_nll(value: float) -> float:
        features = features_for(value)
        logits = HybridScorer.fit(features, y).logits(features)
        return float(-(weights * log_softmax(logits, axis=1)[rows, y]).sum())

    fits = {value: balanced_nll(value) for value in grid}
    log.info(
        "%s on %d validation titles (value: class-balanced NLL): %s", name, len(y),
        {k: round(v, 4) for k, v in fits.items()},
    )
    return min(fits, key=fits.__getitem__)


def fit_prior_correction(
    logistic: LogisticHead, X: np.ndarray, y: np.ndarray, other_features: list[np.ndarray], log_prior: np.ndarray
) -> float:
    """The strength of :meth:`LogisticHead.prior_corrected`, of :data:`PRIOR_CORRECTION_GRID`, on
    validation titles ``X``, ``y``; ``other_features`` are the hybrid's after the LR's."""
    return best_on_balanced_validation(
        "Prior correction", PRIOR_CORRECTION_GRID,
        lambda strength: [logistic.prior_corrected(log_prior, strength).log_proba(X), *other_features], y,
    )


def fit_index_count_penalty(
    index: SemanticIndex, X: np.ndarray, y: np.ndarray, lr_features: np.ndarray, profile_features: np.ndarray
) -> float:
    """The :class:`SemanticIndex` count penalty, of :data:`INDEX_COUNT_PENALTY_GRID`, on validation
    titles ``X``, ``y``, beside the other heads' features on them."""
    return best_on_balanced_validation(
        "Index count penalty", INDEX_COUNT_PENALTY_GRID,
        lambda penalty: [lr_features, replace(index, count_penalty=penalty).label_scores(X), profile_features], y,
    )


def fit_posting_calibration(classifier: JobClassifier, postings: Benchmark) -> tuple[float, float]:
    """The title/body mixing weight and the posting temperature with the best validation likelihood.

    For each weight of :data:`BODY_WEIGHT_GRID` the logit scale of rows with a body is fitted by
    maximum likelihood; the pair with the highest log-likelihood wins.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    from jobclass.evaluation.scoring import benchmark_labels

    T, C = classifier.encode_parts(postings.frame["title"].tolist(), postings.frame["body"].tolist())
    y = benchmark_labels(postings, classifier.codes)
    rows = np.arange(len(y))

    def fitted_scale(weight: float) -> tuple[float, float]:
        logits = classifier.hybrid.logits(classifier.features(classifier.combine(T, C, weight)))

        def nll(scale: float) -> float:
            return float(-log_softmax(scale * logits, axis=1)[rows, y].mean())

        best = minimize_scalar(nll, bounds=(0.1, 10.0), method="bounded")
        return float(best.x), -float(best.fun)

    fits = {w: fitted_scale(w) for w in BODY_WEIGHT_GRID}
    log.info(
        "Posting calibration on %d validation postings (weight: scale, log-likelihood): %s",
        len(y), {w: (round(sc, 2), round(ll, 3)) for w, (sc, ll) in fits.items()},
    )
    weight = max(fits, key=lambda w: fits[w][1])
    return weight, round(fits[weight][0], 4)


def evaluate_on(classifier: JobClassifier, name: str, taxonomy: Taxonomy, limit: int | None = None) -> dict[str, Any]:
    from jobclass.evaluation.scoring import evaluate_classifier

    benchmark = load_benchmark(name, taxonomy)
    if limit and len(benchmark) > limit:
        benchmark = make_benchmark(name, benchmark.frame.sample(n=limit, random_state=0))
    return evaluate_classifier(classifier, benchmark)


def _headline(metrics: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: acc@1={m['acc@1']:.3f} acc@5={m['acc@5']:.3f} mrr@10={m['mrr@10']:.3f}" for name, m in metrics.items()
    )


def bootstrap_model(taxonomy: Taxonomy | None = None, config: TrainConfig | None = None) -> JobClassifier:
    """The first model on a fresh install: see :meth:`TrainConfig.bootstrap`."""
    config = config or TrainConfig.bootstrap()
    log.warning(
        "No champion model: bootstrapping the light '%s' model (base MiniLM, no fine-tuning). "
        "Run `jobclass train` for the full model.", config.name,
    )
    return train_model(config, taxonomy)


def with_overrides(config: TrainConfig, **overrides: Any) -> TrainConfig:
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
