"""The classifier: encoder + heads, from (title, body) to ranked, calibrated O*NET codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobclass.cleaning import DEFAULT_BODY_WORDS, clean_title, compose_input
from jobclass.encoder import encode
from jobclass.heads import HybridScorer, LogisticHead, ProfileHead, SemanticIndex

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MAX_TOP_K = 20

PREDICTION_COLUMNS = [
    "posting_id",
    "rank",
    "onet_code",
    "onet_title",
    "score",
    "soc6_code",
    "soc6_score",
    "major_group",
    "major_group_score",
    "needs_review",
    "backoff_level",
    "evidence",
    "evidence_score",
]


@dataclass
class ModelSettings:
    """Inference settings, stored in the bundle's metadata."""

    body_weight: float = 0.5  # weight of the title+body vector against the title vector
    review_threshold: float = 0.5  # top-1 score under which a human should review
    max_body_words: int = DEFAULT_BODY_WORDS
    max_seq_length: int = 128
    batch_size: int = 64


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
    def encode_parts(self, titles: list[str], bodies: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Title vectors and title+body vectors (zero rows where there is no body).

        Identical inputs are encoded once.
        """
        title_texts = [clean_title(t) for t in titles]
        composed = [
            compose_input(t, b, self.settings.max_body_words) if (b or "").strip() else "" for t, b in zip(titles, bodies)
        ]
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
        T, C = self.encode_parts(titles, bodies)
        return self.combine(T, C, self.settings.body_weight)

    def features(self, Q: np.ndarray) -> list[np.ndarray]:
        return [self.logistic.log_proba(Q), self.index.label_scores(Q), self.profile.scores(Q)]

    def proba(self, Q: np.ndarray) -> np.ndarray:
        """Calibrated probabilities over the full label space, (n, n_labels)."""
        return self.hybrid.proba(self.features(Q))

    # -- prediction --------------------------------------------------------------------------
    def _ranked(self, Q: np.ndarray, probs: np.ndarray, top_k: int) -> list[list[Prediction]]:
        if not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, not {top_k}")
        soc6 = self.labels["soc6"].to_numpy()
        major = self.labels["major_group"].to_numpy()
        soc6_probs, soc6_col = _group_sums(probs, soc6)
        major_probs, major_col = _group_sums(probs, major)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
        threshold = self.settings.review_threshold
        titles = self.labels["title"].to_numpy()
        out = []
        for i, row in enumerate(top):
            best = row[0]
            detailed_ok = probs[i, best] >= threshold
            soc6_ok = soc6_probs[i, soc6_col[best]] >= threshold
            level = "detailed" if detailed_ok else "soc6" if soc6_ok else "major_group"
            ranked = []
            for rank, label in enumerate(row, start=1):
                evidence, evidence_score = self.index.nearest_entry(Q[i], int(label))
                ranked.append(
                    Prediction(
                        rank=rank,
                        code=self.labels["code"].iat[label],
                        title=str(titles[label]),
                        score=float(probs[i, label]),
                        soc6_code=str(soc6[label]),
                        soc6_score=float(soc6_probs[i, soc6_col[label]]),
                        major_group=str(major[label]),
                        major_group_score=float(major_probs[i, major_col[label]]),
                        needs_review=not detailed_ok,
                        backoff_level=level,
                        evidence=evidence,
                        evidence_score=evidence_score,
                    )
                )
            out.append(ranked)
        return out

    def predict(self, title: str | None, body: str | None = "", top_k: int = 5) -> list[Prediction]:
        Q = self.embed([title or ""], [body or ""])
        return self._ranked(Q, self.proba(Q), top_k)[0]

    def predict_frame(self, frame: pd.DataFrame, top_k: int = 5, batch_size: int = 256) -> pd.DataFrame:
        """Long predictions, one row per (posting, rank), columns :data:`PREDICTION_COLUMNS`."""
        rows: list[dict[str, Any]] = []
        for lo in range(0, len(frame), batch_size):
            part = frame.iloc[lo : lo + batch_size]
            titles = part["title"].fillna("").astype(str).tolist()
            bodies = part["body"].fillna("").astype(str).tolist() if "body" in part else [""] * len(part)
            Q = self.embed(titles, bodies)
            for posting_id, ranked in zip(part["posting_id"].tolist(), self._ranked(Q, self.proba(Q), top_k)):
                for p in ranked:
                    rows.append(
                        {
                            "posting_id": posting_id,
                            "rank": p.rank,
                            "onet_code": p.code,
                            "onet_title": p.title,
                            "score": p.score,
                            "soc6_code": p.soc6_code,
                            "soc6_score": p.soc6_score,
                            "major_group": p.major_group,
                            "major_group_score": p.major_group_score,
                            "needs_review": p.needs_review,
                            "backoff_level": p.backoff_level,
                            "evidence": p.evidence,
                            "evidence_score": p.evidence_score,
                        }
                    )
        return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
