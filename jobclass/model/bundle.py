"""Versioned model bundles on disk, stored without pickle.

Layout of a bundle directory::

    encoder/            the sentence-transformers model (safetensors weights)
    heads.safetensors   every head as plain float arrays
    labels.csv          the label index: code, title, soc6, major_group
    index_texts.json    the text of each semantic-index entry (for explanations)
    metadata.json       version, library versions, corpus hash, metrics, benchmark hash,
                        inference settings and the SHA-256 of every file above
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobclass.hashing import file_sha256
from jobclass.model.classifier import JobClassifier, ModelSettings
from jobclass.model.heads import HybridScorer, LogisticHead, ProfileHead, SemanticIndex
from jobclass.model.onnx_encoder import load_encoder_backend

FORMAT_VERSION = 1
REQUIRED = ("heads.safetensors", "labels.csv", "index_texts.json", "metadata.json", "encoder/modules.json")


class BundleError(RuntimeError):
    """A bundle directory is missing, incomplete or corrupt."""


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "metadata.json"
    }


def save_bundle(classifier: JobClassifier, path: str | Path) -> Path:
    """Write ``classifier`` to ``path``: into a temporary sibling, then swapped in by renames.

    An existing bundle at ``path`` stays whole until the new one is complete: it is renamed aside,
    the new one renamed into place, and only then deleted; if the swap fails it is renamed back. A
    failed save leaves no temporary directory behind.
    """
    path = Path(path)
    source = getattr(classifier.encoder, "source_dir", None)  # an ONNX encoder: its torch model
    if not hasattr(classifier.encoder, "save") and source is None:
        raise BundleError("this encoder cannot be saved: it is neither a sentence-transformers model nor an export of one.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")  # mkdir: the umask's mode, not 0700
    tmp.mkdir()
    try:
        _write_bundle(classifier, tmp, source)
        _swap_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_bundle(classifier: JobClassifier, out: Path, source: str | Path | None) -> None:
    from safetensors.numpy import save_file

    if source is not None:
        shutil.copytree(source, out / "encoder")
    else:
        classifier.encoder.save(str(out / "encoder"))
    arrays = {
        "lr_coef": classifier.logistic.coef,
        "lr_intercept": classifier.logistic.intercept,
        "lr_seen": classifier.logistic.seen,
        "index_vectors": classifier.index.vectors,
        "index_labels": classifier.index.labels,
        "index_count_penalty": np.array([classifier.index.count_penalty], dtype=np.float32),
        "profile_centroids": classifier.profile.centroids,
        "hybrid_weights": classifier.hybrid.weights,
    }
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(out / "heads.safetensors"))
    classifier.labels.to_csv(out / "labels.csv", index=False)
    (out / "index_texts.json").write_text(json.dumps(classifier.index.texts, ensure_ascii=False), encoding="utf-8")
    metadata = dict(classifier.metadata)
    metadata.update(
        format_version=FORMAT_VERSION,
        settings=vars(classifier.settings),
        files=_file_hashes(out),
    )
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _swap_into_place(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an old bundle there is set aside first and restored if that fails."""
    if not path.exists():
        os.replace(new, path)
        return
    aside = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:12]}")
    os.replace(path, aside)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def read_metadata(path: str | Path) -> dict[str, Any]:
    meta = Path(path) / "metadata.json"
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{path} is not a model bundle: metadata.json is missing.") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{meta} is corrupt ({exc}); retrain or restore the bundle.") from exc


def verify_bundle(path: str | Path) -> dict[str, Any]:
    """Check that every file is present and matches the hash recorded at save time."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"model bundle {path} does not exist.")
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if missing:
        raise BundleError(f"model bundle {path} is incomplete: missing {', '.join(missing)}. Retrain it.")
    metadata = read_metadata(path)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {metadata.get('format_version')} is not {FORMAT_VERSION}.")
    expected = metadata.get("files", {})
    actual = _file_hashes(path)
    bad = sorted(name for name in expected if actual.get(name) != expected[name])
    if bad or set(actual) - set(expected):
        raise BundleError(
            f"model bundle {path} is corrupt: {', '.join(bad or sorted(set(actual) - set(expected)))} "
            "do not match metadata.json. Retrain it or restore it from a backup."
        )
    return metadata


def load_bundle(
    path: str | Path,
    device: str = "auto",
    verify: bool = True,
    backend: str | None = None,
    threads: int | None = None,
) -> JobClassifier:
    """Load a bundle saved by :func:`save_bundle`; refuses a corrupt or incomplete one.

    ``backend`` (else ``JOBCLASS_ENCODER_BACKEND``, else the bundle's setting) picks how the
    encoder runs: ``torch``, or ``onnx`` / ``onnx-int8`` on ONNX Runtime (CPU). ``threads`` (else
    ``JOBCLASS_ENCODER_THREADS``) caps the encoder's CPU threads.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    metadata = verify_bundle(path) if verify else read_metadata(path)
    # Bundles saved before the duty-sentence gate read every body sentence, as they were fitted to.
    settings = ModelSettings(**{"min_duty_score": 0.0, **metadata.get("settings", {})})
    settings.encoder_backend = backend or os.environ.get("JOBCLASS_ENCODER_BACKEND") or settings.encoder_backend
    try:
        arrays = load_file(str(path / "heads.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path}/heads.safetensors cannot be read: {exc}") from exc
    labels = pd.read_csv(path / "labels.csv", dtype=str, keep_default_na=False)
    texts = json.loads((path / "index_texts.json").read_text(encoding="utf-8"))
    threads = threads or int(os.environ.get("JOBCLASS_ENCODER_THREADS") or 0) or None
    encoder = load_encoder_backend(
        path / "encoder", settings.encoder_backend, device, settings.max_seq_length, threads,
        weights_sha256=metadata.get("files", {}).get("encoder/model.safetensors") if verify else None,
    )
    return JobClassifier(
        encoder=encoder,
        labels=labels,
        logistic=LogisticHead(coef=arrays["lr_coef"], intercept=arrays["lr_intercept"], seen=arrays["lr_seen"]),
        index=SemanticIndex(
            vectors=arrays["index_vectors"], labels=arrays["index_labels"], texts=texts, n_labels=len(labels),
            count_penalty=float(arrays["index_count_penalty"][0]) if "index_count_penalty" in arrays else 0.0,
        ),
        profile=ProfileHead(centroids=arrays["profile_centroids"]),
        hybrid=HybridScorer(weights=arrays["hybrid_weights"]),
        settings=settings,
        metadata=metadata,
    )
