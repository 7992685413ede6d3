"""Scoring heads over the full label space, all on L2-normalised embeddings.

- :class:`LogisticHead`: multinomial logistic regression.
- :class:`SemanticIndex`: cosine similarity to occupation titles, alternate titles and
  descriptions (max per occupation), so codes the regression never saw stay reachable.
- :class:`ProfileHead`: cosine similarity to each occupation's centroid.
- :class:`HybridScorer`: a softmax over a weighted sum of the three, with the weights fitted
  by maximum likelihood on validation data (which also calibrates the scores).

Every head stores plain float arrays (see :mod:`jobclass.model.bundle`): nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

# Floor for log-probabilities, so that the hybrid's weighted sum stays finite.
LOG_PROB_FLOOR = -30.0
QUERY_CHUNK = 512


@dataclass
class LogisticHead:
    coef: np.ndarray  # (n_labels, dim)
    intercept: np.ndarray  # (n_labels,)
    seen: np.ndarray  # (n_labels,) uint8: 1 where the regression had training examples

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, n_labels: int, C: float = 10.0, max_iter: int = 300
    ) -> LogisticHead:
        """Fit on the labels present in ``y``; the others are marked unseen."""
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=C, max_iter=max_iter, tol=1e-3)
        lr.fit(X, y)
        coef = np.zeros((n_labels, X.shape[1]), dtype=np.float32)
        intercept = np.zeros(n_labels, dtype=np.float32)
        seen = np.zeros(n_labels, dtype=np.uint8)
        classes = lr.classes_.astype(int)
        seen[classes] = 1
        if len(classes) == 2:  # sklearn's binary form: one row for class 1
            coef[classes[1]], intercept[classes[1]] = lr.coef_[0], lr.intercept_[0]
        else:
            coef[classes], intercept[classes] = lr.coef_, lr.intercept_
        return cls(coef=coef, intercept=intercept, seen=seen)

    def prior_corrected(self, log_prior: np.ndarray, strength: float) -> LogisticHead:
        """This head with ``strength`` x the training label prior taken out of its intercepts.

        A label's training frequency here is how many titles O*NET lists for it ("Production
        Workers, All Other" has 2,510, "Chiropractors" 2), not how often it occurs in postings.
        This is logit adjustment (Menon et al. 2021): ``strength`` 1 removes the prior entirely, as
        for a class-balanced model, and 0 keeps it.
        """
        intercept = np.where(self.seen.astype(bool), self.intercept - strength * np.asarray(log_prior), 0.0)
        return LogisticHead(coef=self.coef, intercept=intercept.astype(np.float32), seen=self.seen)

    def log_proba(self, X: np.ndarray) -> np.ndarray:
        """Log-probabilities over the seen labels; an unseen label gets the row's median.

        The median is neutral: the regression neither votes for nor against a code it never saw,
        so the similarity heads alone decide whether that code ranks.
        """
        seen = self.seen.astype(bool)
        out = np.empty((len(X), len(seen)), dtype=np.float32)
        logp = np.maximum(log_softmax(X @ self.coef[seen].T + self.intercept[seen], axis=1), LOG_PROB_FLOOR)
        out[:, seen] = logp
        if not seen.all():
            out[:, ~seen] = np.median(logp, axis=1, keepdims=True)
        return out


@dataclass
class SemanticIndex:
    vectors: np.ndarray  # (m, dim), rows grouped by label
    labels: np.ndarray  # (m,) int32, non-decreasing
    texts: list[str]  # (m,) the indexed text, for explanations
    n_labels: int
    # Subtracted x log(1 + entries) from each label's best cosine: the best of many entries is high
    # by chance alone (O*NET lists 2,510 titles for "Production Workers, All Other", 2 for others).
    count_penalty: float = 0.0

    @classmethod
    def build(cls, vectors: np.ndarray, labels: np.ndarray, texts: list[str], n_labels: int) -> SemanticIndex:
        order = np.argsort(labels, kind="stable")
        return cls(
            vectors=np.ascontiguousarray(vectors[order], dtype=np.float32),
            labels=labels[order].astype(np.int32),
            texts=[texts[i] for i in order],
            n_labels=n_labels,
        )

    @cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Each label's [start, end) rows (labels are sorted): computed once."""
        starts = np.searchsorted(self.labels, np.arange(self.n_labels), side="left")
        ends = np.searchsorted(self.labels, np.arange(self.n_labels), side="right")
        return starts, ends

    @cached_property
    def _count_offsets(self) -> np.ndarray:
        """``count_penalty`` x log(1 + entries) of each label that has entries."""
        starts, ends = self._bounds
        counts = (ends - starts)[ends > starts]
        return (self.count_penalty * np.log1p(counts)).astype(np.float32)

    def label_scores(self, Q: np.ndarray) -> np.ndarray:
        """The best cosine per label less its count penalty, (n, n_labels); -1 for a label with no entry."""
        starts, ends = self._bounds
        present = ends > starts
        out = np.full((len(Q), self.n_labels), -1.0, dtype=np.float32)
        for lo in range(0, len(Q), QUERY_CHUNK):
            sims = Q[lo : lo + QUERY_CHUNK] @ self.vectors.T
            best = np.maximum.reduceat(sims, starts[present], axis=1)
            out[lo : lo + QUERY_CHUNK, present] = best - self._count_offsets if self.count_penalty else best
        return out

    def nearest_entry(self, q: np.ndarray, label: int) -> tuple[str, float]:
        """The indexed text of ``label`` closest to query vector ``q``, and its cosine."""
        starts, ends = self._bounds
        lo, hi = starts[label], ends[label]
        if hi <= lo:
            return "", 0.0
        sims = self.vectors[lo:hi] @ q
        best = int(np.argmax(sims))
        return self.texts[lo + best], float(sims[best])


def label_log_prior(y: np.ndarray, n_labels: int) -> np.ndarray:
    """Log of each label's share of ``y``, add-one smoothed: the prior a classifier learns from it."""
    counts = np.bincount(y, minlength=n_labels).astype(np.float64) + 1.0
    return np.log(counts / counts.sum())


@dataclass
class ProfileHead:
    centroids: np.ndarray  # (n_labels, dim), normalised

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, n_labels: int, fallback: np.ndarray) -> ProfileHead:
        """Centroid of each label's examples; ``fallback`` rows for labels with none."""
        sums = np.zeros((n_labels, X.shape[1]), dtype=np.float64)
        np.add.at(sums, y, X)
        counts = np.bincount(y, minlength=n_labels)
        sums[counts == 0] = fallback[counts == 0]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return cls(centroids=(sums / np.maximum(norms, 1e-12)).astype(np.float32))

    def scores(self, Q: np.ndarray) -> np.ndarray:
        return (Q @ self.centroids.T).astype(np.float32)


FEATURES = ("lr_log_proba", "nearest_title", "profile")


@dataclass
class HybridScorer:
    weights: np.ndarray  # one weight per feature in FEATURES

    @staticmethod
    def combine(features: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        return sum(w * f for w, f in zip(weights, features))

    def logits(self, features: list[np.ndarray]) -> np.ndarray:
        return self.combine(features, self.weights)

    def proba(self, features: list[np.ndarray], row_scale: np.ndarray | None = None) -> np.ndarray:
        """Softmax of the weighted features; ``row_scale`` multiplies each row's logits (a temperature)."""
        logits = self.logits(features)
        if row_scale is not None:
            logits = logits * np.asarray(row_scale, dtype=np.float32)[:, None]
        return softmax(logits, axis=1).astype(np.float32)

    @classmethod
    def fit(cls, features: list[np.ndarray], y: np.ndarray, init: np.ndarray | None = None) -> HybridScorer:
        """Maximum-likelihood weights (non-negative): the fitted scale is also the temperature."""
        rows = np.arange(len(y))

        def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
            logits = cls.combine(features, w)
            logp = log_softmax(logits, axis=1)
            p = np.exp(logp)
            loss = -logp[rows, y].mean()
            grad = np.array([((p * f).sum(1) - f[rows, y]).mean() for f in features])
            return float(loss), grad

        w0 = init if init is not None else np.array([1.0, 20.0, 20.0])[: len(features)]
        res = minimize(nll, w0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(features))
        return cls(weights=res.x.astype(np.float32))
