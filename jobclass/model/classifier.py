"""The classifier: encoder + heads, from (title, body) to ranked, calibrated O*NET codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobclass.columns import PREDICTION_COLUMNS
from jobclass.model.cleaning import (
    DEFAULT_BODY_WORDS,
    DUTY_SENTENCE_SCORE,
    clean_body,
    clean_title,
    is_usable_title,
    join_title_body,
)
from jobclass.model.encoder import encode
from jobclass.model.heads import HybridScorer, LogisticHead, ProfileHead, SemanticIndex

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MAX_TOP_K = 20
#: The precision at which a code is accepted without a human, by the model's review threshold and by the
#: memory's fitted score alike: the exact agreement of two human coders on real postings (0.85,
#: jobclass/resources/real_postings). Above it, a machine's code is as trustworthy as a second coder's.
TARGET_PRECISION = 0.85


@dataclass
class ModelSettings:
    """Inference settings, stored in the bundle's metadata."""

    body_weight: float = 0.5  # weight of the title+body vector against the title vector
    # Inverse temperature for rows with a body: the hybrid is calibrated on titles, postings apart.
    body_logit_scale: float = 1.0
    review_threshold: float = 0.5  # top-1 score under which a human should review
    max_body_words: int = DEFAULT_BODY_WORDS
    # Body sentences scoring under this are not read (jobclass.model.cleaning.duty_score); a body
    # without a duty sentence leaves the posting to its title. Bundles saved before it read 0.
    min_duty_score: float = DUTY_SENTENCE_SCORE
    # A posting whose title field is a sentence (jobclass.model.cleaning.is_usable_title) is read from
    # its body alone, every sentence ranked by duty score rather than only the duty sentences.
    read_untitled_body: bool = True
    max_seq_length: int = 128
    batch_size: int = 64
    encoder_backend: str = "onnx-int8"  # torch | onnx | onnx-int8: the fastest measured (jobclass.model.onnx_encoder)


@dataclass
class Prediction:
    rank: int
    code: str
    title: str
    score: float
    soc6_code: str
    soc6_score: float
    major_group: str
    major_group_score: float
    needs_review: bool
    backoff_level: str
    evidence: str
    evidence_score: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_top_k(top_k: int) -> None:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}")


def _group_sums(probs: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed probability per group of contiguous equal ``keys``, and each label's group column."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    group_of_label = np.cumsum(np.r_[True, keys[1:] != keys[:-1]]) - 1
    return np.add.reduceat(probs, starts, axis=1), group_of_label


@dataclass
class JobClassifier:
    encoder: SentenceTransformer
    labels: pd.DataFrame  # code, title, soc6, major_group; sorted by code
    logistic: LogisticHead
    index: SemanticIndex
    profile: ProfileHead
    hybrid: HybridScorer
    settings: ModelSettings = field(default_factory=ModelSettings)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    @property
    def codes(self) -> list[str]:
        return self.labels["code"].tolist()

    # -- scoring -----------------------------------------------------------------------------
    def encoder_inputs(self, titles: list[str], bodies: list[str]) -> tuple[list[str], list[str]]:
        """The cleaned titles, and the title+body texts ("" where the body has no duty sentence).

        A title field that holds no title (a sentence, a heading) gives an empty title text, and
        its body is read ungated, so that the posting is scored from what its body says.
        """
        s = self.settings
        usable = [not s.read_untitled_body or is_usable_title(t) for t in titles]
        title_texts = [clean_title(t) if ok else "" for t, ok in zip(titles, usable)]
        tails = [
            clean_body(b, s.max_body_words, s.min_duty_score if ok else 0.0) if (b or "").strip() else ""
            for b, ok in zip(bodies, usable)
        ]
        return title_texts, [join_title_body(head, tail) if tail else "" for head, tail in zip(title_texts, tails)]

    def encode_parts(self, titles: list[str], bodies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Title vectors and title+body vectors (zero rows where the body has no duty sentence).

        Identical inputs are encoded once.
        """
        title_texts, composed = self.encoder_inputs(titles, bodies)
        unique = sorted({t for t in title_texts + composed if t})
        vectors = encode(self.encoder, unique, batch_size=self.settings.batch_size)
        vectors = np.vstack([vectors, np.zeros((1, vectors.shape[1]), dtype=np.float32)])  # row -1: empty text
        row_of = {t: i for i, t in enumerate(unique)}
        T = vectors[[row_of.get(t, -1) for t in title_texts]]
        C = vectors[[row_of.get(c, -1) for c in composed]]
        return T, C

    @staticmethod
    def combine(T: np.ndarray, C: np.ndarray, body_weight: float) -> np.ndarray:
        """Normalised title vector + ``body_weight`` x title+body vector."""
        Q = T + body_weight * C
        return (Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def embed(self, titles: list[str], bodies: list[str]) -> np.ndarray:
        """Query vectors for (title, body) pairs."""
        return self.queries(titles, bodies)[0]

    def queries(self, titles: list[str], bodies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Query vectors for (title, body) pairs, and which rows have a usable body."""
        T, C = self.encode_parts(titles, bodies)
        return self.combine(T, C, self.settings.body_weight), C.any(axis=1)

    def features(self, Q: np.ndarray) -> list[np.ndarray]:
        return [self.logistic.log_proba(Q), self.index.label_scores(Q), self.profile.scores(Q)]

    def proba(self, Q: np.ndarray, has_body: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probabilities over the full label space, (n, n_labels).

        Rows flagged in ``has_body`` get the posting temperature (``settings.body_logit_scale``).
        """
        scale = None
        if has_body is not None and self.settings.body_logit_scale != 1.0:
            scale = np.where(np.asarray(has_body, dtype=bool), np.float32(self.settings.body_logit_scale), np.float32(1.0))
        return self.hybrid.proba(self.features(Q), scale)

    # -- prediction --------------------------------------------------------------------------
    def _ranked_columns(self, Q: np.ndarray, probs: np.ndarray, top_k: int) -> dict[str, np.ndarray]:
        """The top-k of each row as flat columns, row-major (posting, rank): the prediction fields."""
        _check_top_k(top_k)
        labels = self.labels
        soc6, major = labels["soc6"].to_numpy(), labels["major_group"].to_numpy()
        soc6_probs, soc6_col = _group_sums(probs, soc6)
        major_probs, major_col = _group_sums(probs, major)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
        rows = np.arange(len(probs))[:, None]
        best = top[:, 0]
        threshold = self.settings.review_threshold
        detailed_ok = probs[rows[:, 0], best] >= threshold
        soc6_ok = soc6_probs[rows[:, 0], soc6_col[best]] >= threshold
        level = np.where(detailed_ok, "detailed", np.where(soc6_ok, "soc6", "major_group"))
        evidence = [self.index.nearest_entry(Q[i], int(label)) for i, row in enumerate(top) for label in row]
        flat = top.ravel()
        return {
            "rank": np.tile(np.arange(1, top_k + 1), len(top)),
            "onet_code": labels["code"].to_numpy()[flat],
            "onet_title": labels["title"].to_numpy()[flat],
            "score": probs[rows, top].ravel().astype(float),
            "soc6_code": soc6[flat],
            "soc6_score": soc6_probs[rows, soc6_col[top]].ravel().astype(float),
            "major_group": major[flat],
            "major_group_score": major_probs[rows, major_col[top]].ravel().astype(float),
            "needs_review": np.repeat(~detailed_ok, top_k),
            "backoff_level": np.repeat(level, top_k),
            "evidence": np.array([text for text, _ in evidence], dtype=object),
            "evidence_score": np.array([score for _, score in evidence], dtype=float),
        }

    def predict(self, title: str | None, body: str | None = "", top_k: int = 5) -> list[Prediction]:
        Q, has_body = self.queries([title or ""], [body or ""])
        columns = self._ranked_columns(Q, self.proba(Q, has_body), top_k)
        fields = {"onet_code": "code", "onet_title": "title"}
        return [
            Prediction(**{fields.get(k, k): v[i].item() if hasattr(v[i], "item") else v[i] for k, v in columns.items()})
            for i in range(top_k)
        ]

    def predict_frame(self, frame: pd.DataFrame, top_k: int = 5, batch_size: int = 256) -> pd.DataFrame:
        """Long predictions, one row per (posting, rank), columns :data:`jobclass.columns.PREDICTION_COLUMNS`.

        Each distinct text of ``frame`` is encoded once; ``batch_size`` bounds the scoring arrays.
        """
        _check_top_k(top_k)  # before the encoding, and for an empty frame too
        titles = frame["title"].fillna("").astype(str).tolist()
        bodies = frame["body"].fillna("").astype(str).tolist() if "body" in frame else [""] * len(frame)
        Q_all, has_body_all = self.queries(titles, bodies)
        posting_ids = np.asarray(frame["posting_id"].tolist(), dtype=object)
        parts = []
        for lo in range(0, len(frame), batch_size):
            Q = Q_all[lo : lo + batch_size]
            columns = self._ranked_columns(Q, self.proba(Q, has_body_all[lo : lo + batch_size]), top_k)
            parts.append(pd.DataFrame({"posting_id": np.repeat(posting_ids[lo : lo + batch_size], top_k), **columns}))
        if not parts:
            return pd.DataFrame(columns=PREDICTION_COLUMNS)
        return pd.concat(parts, ignore_index=True)[PREDICTION_COLUMNS]
