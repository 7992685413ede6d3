"""The anchors users would otherwise pick, scored on the same benchmark as the model.

- ``tfidf-nearest-title``: TF-IDF character n-grams, nearest alternate title.
- ``minilm-nearest-title``: the untrained MiniLM, nearest alternate title.
- ``minilm-logistic``: the untrained MiniLM with a logistic-regression head.

All three see the same leakage-free corpus as the trained model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from jobclass.evaluation.benchmark import Benchmark
from jobclass.evaluation.scoring import evaluate_probabilities
from jobclass.evaluation.sets import excluded_titles
from jobclass.model.cleaning import clean_title, compose_input
from jobclass.model.encoder import encode, load_encoder
from jobclass.model.heads import LogisticHead, SemanticIndex
from jobclass.onet.corpus import build_corpus
from jobclass.onet.taxonomy import Taxonomy

log = logging.getLogger(__name__)

TITLE_SOURCES = ("official_title", "alternate_title", "short_title")


def benchmark_queries(benchmark: Benchmark) -> list[str]:
    return [
        compose_input(t, b) if b else clean_title(t) for t, b in zip(benchmark.frame["title"], benchmark.frame["body"])
    ]


def tfidf_nearest_title(titles: pd.DataFrame, queries: list[str], n_labels: int) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
    T = vectorizer.fit_transform(titles["text"])
    Q = vectorizer.transform(queries)
    scores = np.full((len(queries), n_labels), -1.0, dtype=np.float32)
    labels = titles["label"].to_numpy()
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    present = labels[order][starts]
    for lo in range(0, len(queries), 512):
        sims = (Q[lo : lo + 512] @ T.T).toarray()[:, order]
        scores[lo : lo + 512, present] = np.maximum.reduceat(sims, starts, axis=1)
    return scores


def run_baselines(taxonomy: Taxonomy, benchmarks: list[Benchmark], show_progress: bool = True) -> Iterator[tuple[str, str, dict]]:
    """Yield (baseline, benchmark name, metrics) for every baseline on every benchmark."""
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy))
    train = corpus[corpus["split"] == "train"].reset_index(drop=True)
    titles = train[train["source"].isin(TITLE_SOURCES)].reset_index(drop=True)
    n_labels = len(taxonomy)
    codes = taxonomy.codes
    queries = {b.name: benchmark_queries(b) for b in benchmarks}

    for b in benchmarks:
        log.info("baseline tfidf-nearest-title on %s", b.name)
        yield "tfidf-nearest-title", b.name, evaluate_probabilities(
            tfidf_nearest_title(titles, queries[b.name], n_labels), b, codes
        )

    encoder = load_encoder()
    log.info("Encoding %d training texts with the untrained MiniLM", len(train))
    X = encode(encoder, train["text"].tolist(), show_progress=show_progress)
    y = train["label"].to_numpy()
    is_title = train["source"].isin(TITLE_SOURCES).to_numpy()
    index = SemanticIndex.build(X[is_title], y[is_title], train["text"][is_title].tolist(), n_labels)
    Qs = {b.name: encode(encoder, queries[b.name], show_progress=show_progress) for b in benchmarks}
    for b in benchmarks:
        yield "minilm-nearest-title", b.name, evaluate_probabilities(index.label_scores(Qs[b.name]), b, codes)

    log.info("Fitting the logistic head on untrained MiniLM embeddings")
    head = LogisticHead.fit(X, y, n_labels)
    for b in benchmarks:
        yield "minilm-logistic", b.name, evaluate_probabilities(head.log_proba(Qs[b.name]), b, codes)
