"""Checkpoints of a fine-tuning loop, so that a long run resumes where it stopped instead of starting
over (a killed worker, a laptop lid, a 1,000-step mpnet run on 2 cores).

A :class:`FitCheckpoint` lives in a directory of its own. It holds one file, replaced atomically
(written to a temporary name, then renamed), with the step reached and everything the loop needs to
go on exactly as an uninterrupted run would: the model's and the proxies' weights, the optimizer
and the schedule, both random generators, the batches left in the epoch and the losses so far. A
checkpoint is only taken up by the same fit: its ``fingerprint`` (the settings, the texts, the
labels and the starting proxies) must match; another fit's checkpoint is ignored, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FILE_NAME = "fit-checkpoint.pt"
#: Settings that do not change what a fit computes, left out of its fingerprint.
NOT_FINGERPRINTED = ("show_progress", "checkpoint_dir", "checkpoint_every")


def fit_fingerprint(settings: Any, texts: Iterable[str], labels: np.ndarray, init_proxies: np.ndarray) -> str:
    """A hash of what a fit computes from: its settings (a dataclass), texts, labels and starting proxies."""
    digest = hashlib.sha256()
    fields = {k: v for k, v in asdict(settings).items() if k not in NOT_FINGERPRINTED}
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(init_proxies, dtype=np.float32).tobytes())
    return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class FitCheckpoint:
    """The checkpoint of one fit (``fingerprint``) in ``directory``."""

    directory: Path
    fingerprint: str

    @property
    def path(self) -> Path:
        return Path(self.directory) / FILE_NAME

    def save(self, step: int, state: dict[str, Any]) -> None:
        """Write the state after ``step`` steps, atomically."""
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        torch.save({"fingerprint": self.fingerprint, "step": step, **state}, tmp)
        os.replace(tmp, self.path)
        log.info("checkpoint: step %d saved to %s", step, self.path)

    def load(self) -> dict[str, Any] | None:
        """The saved state of this fit, or None (no checkpoint, or another fit's)."""
        import torch

        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("checkpoint %s belongs to another fit (settings or data differ): starting afresh", self.path)
            return None
        log.info("checkpoint: resuming from step %d (%s)", state["step"], self.path)
        return state

    def clear(self) -> None:
        """Remove the checkpoint once the fit is done."""
        self.path.unlink(missing_ok=True)
