"""The data a training run fits on: the corpus a :class:`TrainConfig` asks for, and that corpus
encoded (:class:`EncodedCorpus`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobclass.evaluation.sets import excluded_titles
from jobclass.hashing import bucket
from jobclass.model.encoder import encode
from jobclass.onet.corpus import add_extra_titles, build_corpus
from jobclass.onet.taxonomy import Taxonomy
from jobclass.training.config import TrainConfig
from jobclass.training.title_sources import benchmark_title_keys, labelled_titles

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: Corpus sources whose training rows are entries of the nearest-title index.
INDEX_SOURCES = ("official_title", "alternate_title", "short_title", "description", "labelled")


def training_corpus(config: TrainConfig, taxonomy: Taxonomy, labelled: pd.DataFrame | None = None) -> pd.DataFrame:
    """The leakage-free corpus that ``config`` trains on, with its extra title sources."""
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy), labelled, config.body_min_duty_score)
    if config.max_per_code:
        corpus = cap_per_code(corpus, config.max_per_code)
    if config.extra_title_sources:  # after the cap, which extra_titles_max_per_code does for them
        titles = labelled_titles(config.extra_title_sources, benchmark_title_keys(taxonomy), config.extra_titles_weak)
        corpus = add_extra_titles(corpus, titles, taxonomy, config.extra_titles_max_per_code)
        log.info("Extra titles: %s", {s: int((corpus["source"] == s).sum()) for s in config.extra_title_sources})
    return corpus


def cap_per_code(corpus: pd.DataFrame, n: int) -> pd.DataFrame:
    """At most ``n`` rows of each source kind per code and split, chosen by a stable hash; official titles kept."""
    order = corpus.assign(_k=corpus["text"].map(lambda t: bucket(f"cap:{t}", 1 << 30))).sort_values("_k")
    capped = order.groupby(["code", "split", "kind"], sort=False).head(n)
    official = corpus[corpus["source"] == "official_title"]
    return pd.concat([capped.drop(columns="_k"), official]).drop_duplicates(["text", "code"]).sort_index()


def index_sources(config: TrainConfig) -> tuple[str, ...]:
    """The corpus sources whose training rows are entries of the nearest-title index."""
    return (*INDEX_SOURCES, *config.extra_title_sources) if config.extra_titles_in_index else INDEX_SOURCES


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus's training rows and validation titles with their embeddings: what the heads fit on
    (the training rows) and what their corrections and the hybrid are tuned on (the validation titles)."""

    train: pd.DataFrame  # the training split, indexed 0..n-1
    X: np.ndarray  # (n, dim) its embeddings
    validation_titles: pd.DataFrame  # the validation split's titles
    X_val: np.ndarray  # (m, dim) their embeddings

    @property
    def y(self) -> np.ndarray:
        return self.train["label"].to_numpy()

    @property
    def y_val(self) -> np.ndarray:
        return self.validation_titles["label"].to_numpy()

    @property
    def has_validation(self) -> bool:
        return len(self.validation_titles) > 0


def encode_corpus(encoder: SentenceTransformer, corpus: pd.DataFrame, show_progress: bool = False) -> EncodedCorpus:
    """The training rows and the validation titles of ``corpus``, encoded by ``encoder``."""
    train = corpus[corpus["split"] == "train"].reset_index(drop=True)
    validation = corpus[corpus["split"] == "validation"].reset_index(drop=True)
    log.info("Corpus: %d training and %d validation texts over %d codes", len(train), len(validation), train["code"].nunique())
    val_titles = validation[validation["kind"] == "title"]
    return EncodedCorpus(
        train=train,
        X=encode(encoder, train["text"].tolist(), show_progress=show_progress),
        validation_titles=val_titles,
        X_val=encode(encoder, val_titles["text"].tolist(), show_progress=show_progress),
    )
