"""Fitting the classifier's heads on an encoded corpus, in three steps:

1. :func:`fit_heads`: the logistic regression, the nearest-title index and the occupation profiles
   on the training rows;
2. :func:`correct_heads`: the two corrections of the label prior, the LR's (logit adjustment) and
   the index's (a penalty per entry count), each a grid value chosen on the validation titles;
3. :func:`fit_hybrid`: the weights of the hybrid over the three heads, by maximum likelihood on the
   validation titles (which also calibrates its scores).

Each takes data and returns new values; nothing is changed in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import log_softmax

from jobclass.model.heads import HybridScorer, LogisticHead, ProfileHead, SemanticIndex, label_log_prior
from jobclass.training.dataset import EncodedCorpus

log = logging.getLogger(__name__)

PRIOR_CORRECTION_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
INDEX_COUNT_PENALTY_GRID = (0.0, 0.02, 0.04, 0.06, 0.08)
#: The hybrid's weights before it is fitted (and when there are no validation titles to fit it on).
INITIAL_HYBRID_WEIGHTS = (1.0, 20.0, 20.0)


@dataclass(frozen=True)
class Heads:
    """The three heads of a classifier, each scoring every label."""

    logistic: LogisticHead
    index: SemanticIndex
    profile: ProfileHead

    def features(self, X: np.ndarray) -> list[np.ndarray]:
        """The hybrid's features of query vectors ``X``, in :data:`jobclass.model.heads.FEATURES` order."""
        return [self.logistic.log_proba(X), self.index.label_scores(X), self.profile.scores(X)]


def fit_heads(
    data: EncodedCorpus, n_labels: int, index_sources: tuple[str, ...], C: float = 10.0, max_iter: int = 300
) -> Heads:
    """The heads on ``data``'s training rows: the LR on every row, the index on the rows of
    ``index_sources``, the profiles on every row (an occupation without rows: its official title)."""
    X, y, train = data.X, data.y, data.train
    logistic = LogisticHead.fit(X, y, n_labels, C=C, max_iter=max_iter)
    in_index = train["source"].isin(index_sources).to_numpy()
    index = SemanticIndex.build(X[in_index], y[in_index], train["text"][in_index].tolist(), n_labels)
    official = train[train["source"] == "official_title"]
    fallback = np.zeros((n_labels, X.shape[1]), dtype=np.float32)
    fallback[official["label"].to_numpy()] = X[official.index.to_numpy()]
    profile = ProfileHead.fit(X, y, n_labels, fallback)
    return Heads(logistic=logistic, index=index, profile=profile)


def correct_heads(
    heads: Heads, data: EncodedCorpus, prior_correction: float | None = None, index_count_penalty: float | None = None
) -> tuple[Heads, dict[str, float]]:
    """``heads`` with the training prior taken out of the LR and the index's count penalty set, and
    the two values (``prior_correction``, ``index_count_penalty``).

    A value given is used as is; a value left None is the grid's best on the validation titles
    (:func:`fit_prior_correction`, then :func:`fit_index_count_penalty` beside the corrected LR).
    Without validation titles the heads are returned as they are, with no values.
    """
    if not data.has_validation:
        return heads, {}
    X_val, y_val = data.X_val, data.y_val
    log_prior = label_log_prior(data.y, heads.index.n_labels)
    profile_val = heads.profile.scores(X_val)
    strength = prior_correction
    if strength is None:
        strength = fit_prior_correction(heads.logistic, X_val, y_val, [heads.index.label_scores(X_val), profile_val], log_prior)
    logistic = heads.logistic.prior_corrected(log_prior, strength)
    penalty = index_count_penalty
    if penalty is None:
        penalty = fit_index_count_penalty(heads.index, X_val, y_val, logistic.log_proba(X_val), profile_val)
    corrected = replace(heads, logistic=logistic, index=replace(heads.index, count_penalty=penalty))
    return corrected, {"prior_correction": strength, "index_count_penalty": penalty}


def fit_hybrid(heads: Heads, data: EncodedCorpus) -> HybridScorer:
    """The hybrid over ``heads``, fitted on the validation titles; :data:`INITIAL_HYBRID_WEIGHTS` without them."""
    if not data.has_validation:
        return HybridScorer(weights=np.array(INITIAL_HYBRID_WEIGHTS, dtype=np.float32))
    return HybridScorer.fit(heads.features(data.X_val), data.y_val)


def best_on_balanced_validation(
    name: str, grid: tuple[float, ...], features_for: Callable[[float], list[np.ndarray]], y: np.ndarray
) -> float:
    """The value of ``grid`` whose hybrid features, the hybrid refitted on them, give the best
    class-balanced likelihood of the validation labels ``y``.

    Each row weighs 1 / (its label's count), so that every occupation counts the same: the prior
    of the postings to be coded is unknown, and O*NET's title counts per code are no estimate of it.
    """
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
