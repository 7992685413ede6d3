"""Distillation: a small student encoder taught to reproduce a larger, fine-tuned teacher's
embeddings, so the nightly keeps the student's cost (issue 28).

The steps, each a function that takes data and gives data or a model:

- :func:`distillation_texts`: what the student learns on: the texts the teacher was fine-tuned on
  (titles and task statements of the training split) plus unlabelled federal position titles and
  their duty items (``usajobs_questionnaires``), benchmark titles removed;
- :func:`reduce_to`: the teacher's embeddings cut to the student's dimension (truncated SVD, not
  centred, so the cosines keep as much of their geometry as that many dimensions can) and
  renormalised;
- :func:`align_to`: those targets rotated (orthogonal Procrustes) towards what the student already
  gives for the same texts; a rotation changes no cosine, so the targets lose nothing, and the
  student starts near them instead of in an arbitrary basis;
- :func:`fit_distillation`: the student fitted in place by mean squared error to the targets,
  length-grouped batches, linear warm-up and decay, as the fine-tuning is.

The heads and their calibration are then trained on the student as on any encoder
(:func:`jobclass.training.train.train_model` with ``encoder_path``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobclass.model.cleaning import clean_body, clean_title
from jobclass.training.objectives import length_grouped_batches
from jobclass.training.title_sources import questionnaire_pairs

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillSettings:
    """How the student is fitted to the targets."""

    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    max_steps: int | None = None
    max_seq_length: int = 64
    length_group: int = 50
    seed: int = 0
    show_progress: bool = True


def distillation_texts(fine_tuning_texts: list[str], excluded_titles: set[str], max_items: int | None = 3) -> list[str]:
    """The distinct texts the student learns on: ``fine_tuning_texts`` (already cleaned), then the
    questionnaires' federal titles and up to ``max_items`` duty items per title, cleaned as the
    nightly cleans a title and a body; titles equal to a benchmark title (``excluded_titles``) are
    dropped with their items."""
    pairs = questionnaire_pairs(excluded_titles, max_items=max_items)
    titles = pairs["title"].drop_duplicates().map(clean_title)
    items = pairs["item"].map(lambda text: clean_body(text, 10_000))
    texts = pd.concat([pd.Series(fine_tuning_texts, dtype=object), titles, items], ignore_index=True)
    texts = texts[texts.str.strip().str.len() > 0]
    return list(dict.fromkeys(texts.tolist()))


def reduce_to(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``vectors`` projected on their top ``dim`` right singular vectors (no centring) and
    renormalised, with the ``(n_features, dim)`` projection; unchanged (identity) if already ``dim`` wide."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape[1] < dim:
        raise ValueError(f"cannot reduce {vectors.shape[1]} dimensions to {dim}")
    if vectors.shape[1] == dim:
        return _normalise(vectors), np.eye(dim, dtype=np.float32)
    # The right singular vectors are the eigenvectors of X^T X (ascending eigenvalues from eigh).
    _, eigenvectors = np.linalg.eigh(vectors.astype(np.float64).T @ vectors.astype(np.float64))
    projection = eigenvectors[:, ::-1][:, :dim].astype(np.float32)
    return _normalise(vectors @ projection), projection


def align_to(targets: np.ndarray, student: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``targets`` rotated by the orthogonal matrix that brings them nearest ``student``, the
    student's embeddings of ``targets[rows]`` (every row when ``rows`` is None): orthogonal
    Procrustes, ``R = U V^T`` from the SVD of ``targets[rows]^T student``. A rotation changes no
    cosine among the targets."""
    fitted = targets if rows is None else targets[rows]
    if fitted.shape != student.shape:
        raise ValueError(f"targets {fitted.shape} and student embeddings {student.shape} differ in shape")
    u, _, vt = np.linalg.svd(fitted.astype(np.float64).T @ student.astype(np.float64))
    return (targets @ (u @ vt)).astype(np.float32)


def fit_distillation(
    model: SentenceTransformer, texts: list[str], targets: np.ndarray, settings: DistillSettings
) -> dict[str, float]:
    """Fit ``model`` in place so each text's embedding is ``targets``' row (mean squared error),
    and return the first and last mean losses, the steps and the seconds per step."""
    import torch
    import torch.nn.functional as F
    from transformers import get_linear_schedule_with_warmup

    if len(texts) != len(targets):
        raise ValueError(f"{len(texts)} texts but {len(targets)} targets")
    if targets.shape[1] != model.get_embedding_dimension():
        raise ValueError(
            f"targets are {targets.shape[1]}-d but the student gives {model.get_embedding_dimension()}-d: reduce them first"
        )
    device = model.device
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    steps_per_epoch = max(1, len(texts) // settings.batch_size)
    total = settings.max_steps or max(1, int(round(settings.epochs * steps_per_epoch)))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)
    previous_length = model.max_seq_length
    model.max_seq_length = settings.max_seq_length
    target_t = torch.as_tensor(np.ascontiguousarray(targets, dtype=np.float32))
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=settings.max_seq_length)["input_ids"]])
    log.info(
        "Distillation on %d texts, batch %d, %d steps (%.2f epochs), device=%s",
        len(texts), settings.batch_size, total, total / steps_per_epoch, device,
    )
    progress = None
    if settings.show_progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=total, desc="distil (MSE to the teacher)")
    model.train()
    batches: list[np.ndarray] = []
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(total):
        if not batches:
            batches = length_grouped_batches(lengths, settings.batch_size, settings.length_group, rng)
        batch = batches.pop()
        features = model.tokenize([texts[i] for i in batch])
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        embeddings = F.normalize(model(features)["sentence_embedding"], dim=-1)
        loss = F.mse_loss(embeddings, target_t[batch].to(device), reduction="sum") / len(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress.update(1)
        if (step + 1) % max(1, total // 20) == 0 or step + 1 == total:
            log.info(
                "distil step %d/%d: loss %.4f (mean of the last %d), %.2f s/step",
                step + 1, total, np.mean(losses[-50:]), min(50, len(losses)), (time.perf_counter() - started) / (step + 1),
            )
    if progress is not None:
        progress.close()
    model.max_seq_length = previous_length
    model.eval()
    return {
        "first_loss": float(np.mean(losses[:50])),
        "train_loss": float(np.mean(losses[-50:])),
        "train_steps": float(total),
        "s_per_step": (time.perf_counter() - started) / total,
    }


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
