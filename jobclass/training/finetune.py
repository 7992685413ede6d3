"""Fine-tuning the encoder as a :class:`TrainConfig` says: the base encoder, an optional MNRL stage on
unlabelled pairs, then the config's objective (:mod:`jobclass.training.objectives`) on the corpus.

- :func:`finetune`: (config, corpus) -> the fine-tuned encoder and its metrics;
- :func:`finetune_to_dir`: the same, saved to a directory (the weekly retrain's own step).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from jobclass.model.base_encoders import base_encoder_dir
from jobclass.model.cleaning import clean_title
from jobclass.model.encoder import encode, load_encoder
from jobclass.onet.corpus import contrastive_pairs
from jobclass.onet.taxonomy import Taxonomy, load_taxonomy
from jobclass.training.config import TrainConfig
from jobclass.training.dataset import training_corpus
from jobclass.training.objectives import FinetuneSettings, ProxySettings, fit_mnrl, fit_proxy_softmax
from jobclass.training.recipes import OBJECTIVES
from jobclass.training.title_sources import benchmark_title_keys, fine_tuning_pairs

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Settings = TypeVar("Settings", bound=FinetuneSettings)


def finetune(
    config: TrainConfig, corpus: pd.DataFrame, taxonomy: Taxonomy, start: SentenceTransformer | None = None
) -> tuple[SentenceTransformer, dict[str, float]]:
    """The base encoder (or ``start``, fine-tuned in place: a distilled student, say), fine-tuned
    with ``config``'s objective (proxy softmax or MNRL), and its metrics; untouched (and no
    metrics) when ``config.finetune`` is off."""
    encoder = start if start is not None else load_encoder(base_encoder_dir(config.base_encoder), device=config.device)
    if not config.finetune:
        return encoder, {}
    if config.finetune_objective not in OBJECTIVES:
        raise ValueError(f"finetune_objective must be one of {OBJECTIVES}, not {config.finetune_objective!r}")
    metrics = _pair_stage(config, encoder, taxonomy) if config.finetune_pair_sources else {}
    if config.finetune_objective == "proxy":
        return encoder, {**metrics, **_proxy_stage(config, encoder, corpus, taxonomy)}
    return encoder, {**metrics, **_mnrl_stage(config, encoder, corpus, taxonomy)}


def finetune_to_dir(
    config: TrainConfig,
    out_dir: str | Path,
    taxonomy: Taxonomy | None = None,
    labelled: pd.DataFrame | None = None,
    start: SentenceTransformer | None = None,
) -> tuple[Path, dict[str, float]]:
    """Fine-tune (the base encoder, or ``start``) and save the encoder (and ``finetune_metrics.json``)
    to ``out_dir``: the first half of a two-step retrain; :func:`jobclass.training.train.train_model`
    takes the directory."""
    taxonomy = taxonomy or load_taxonomy()
    encoder, metrics = finetune(config, training_corpus(config, taxonomy, labelled), taxonomy, start=start)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    encoder.save(str(out_dir))
    (out_dir / "finetune_metrics.json").write_text(json.dumps(metrics))
    log.info("Encoder saved to %s (fine-tuning %s on %s)", out_dir, metrics, encoder.device)
    return out_dir, metrics


def objective_settings(config: TrainConfig, kind: type[Settings]) -> Settings:
    """The settings of objective ``kind`` that ``config`` sets (its other fields keep their defaults)."""
    return kind(
        epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate,
        max_steps=config.max_steps, max_seq_length=config.finetune_max_seq_length,
        seed=config.seed, show_progress=config.show_progress,
        checkpoint_dir=config.checkpoint_dir, checkpoint_every=config.checkpoint_every,
    )


def proxy_training_rows(config: TrainConfig, corpus: pd.DataFrame) -> pd.DataFrame:
    """The training-split rows of ``config``'s views and extra title sources (plus official titles) that proxy fine-tuning sees."""
    sources = (*config.finetune_sources, *config.extra_title_sources, "official_title")
    train = corpus[(corpus["split"] == "train") & corpus["source"].isin(sources)]
    if config.field_title_weight > 1:
        field = train[train["field_title"]]
        train = pd.concat([train, *[field] * (config.field_title_weight - 1)], ignore_index=True)
    if config.max_pairs is not None and len(train) > config.max_pairs:
        train = train.sample(n=config.max_pairs, random_state=config.seed)
    return train


def _pair_stage(config: TrainConfig, encoder: SentenceTransformer, taxonomy: Taxonomy) -> dict[str, float]:
    """MNRL on ``config``'s unlabelled pairs (in-batch negatives), before the main objective:
    real federal titles drawn towards their duties and towards the titles of their series."""
    pairs = fine_tuning_pairs(config.finetune_pair_sources, benchmark_title_keys(taxonomy), config.seed)
    settings = replace(
        objective_settings(config, FinetuneSettings),
        epochs=config.pair_epochs, max_steps=config.pair_max_steps, max_seq_length=config.pair_max_seq_length,
    )
    metrics = fit_mnrl(encoder, pairs, settings)
    return {f"pairs_{k}": v for k, v in metrics.items()} | {"pairs": float(len(pairs))}


def _proxy_stage(
    config: TrainConfig, encoder: SentenceTransformer, corpus: pd.DataFrame, taxonomy: Taxonomy
) -> dict[str, float]:
    """The proxy softmax on :func:`proxy_training_rows`, each proxy starting at its official title."""
    train = proxy_training_rows(config, corpus)
    init = encode(encoder, [clean_title(t) for t in taxonomy.occupations["title"]])
    settings = replace(objective_settings(config, ProxySettings), scale=config.proxy_scale, margin=config.proxy_margin)
    return fit_proxy_softmax(encoder, train["text"].tolist(), train["label"].to_numpy(), init, settings)


def _mnrl_stage(
    config: TrainConfig, encoder: SentenceTransformer, corpus: pd.DataFrame, taxonomy: Taxonomy
) -> dict[str, float]:
    """MNRL on (text, occupation title, sibling title) triples of ``config``'s views."""
    anchors = corpus[corpus["source"].isin(config.finetune_sources)]
    pairs = contrastive_pairs(anchors, taxonomy, config.max_pairs)
    val_pairs = contrastive_pairs(anchors, taxonomy, min(2000, config.max_pairs or 2000), split="validation")
    settings = objective_settings(config, FinetuneSettings)
    return fit_mnrl(encoder, pairs, settings, validation_pairs=val_pairs if len(val_pairs) >= config.batch_size else None)
