"""The weekly retrain's steps 1 to 4: the training set, fine-tuning, the head, the challenger.

No Airflow import here (and nothing heavy at import time): each function takes an engine and
plain values and returns a small JSON-serialisable dict, so the DAG tasks stay a few lines each and
these steps can be tested, or run by hand, without a scheduler. The gate (steps 5 to 8) is
:mod:`jobclass.pipeline.gate`; retention (step 9) is :mod:`jobclass.pipeline.retention`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

log = logging.getLogger("jobclass.airflow")

#: The share (percent) of reviewed labels held out of training, by a hash of the posting id, for the gate.
LABEL_HOLDOUT_PERCENT = 20


def safe_name(text: str) -> str:
    """A directory name for ``text`` (a dag_run_id): a readable slug plus a short hash of the raw text.

    The slug alone would let distinct ids collide (``a:b`` and ``a+b`` both slug to ``a_b``) and would
    turn ``..`` into nothing; the hash keeps every id apart, and no dot or separator survives the slug.
    """
    import hashlib

    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:80] or "run"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def retrain_root() -> Path:
    """The parent of every retrain workdir."""
    from jobclass.paths import data_home

    return data_home() / "retrain"


def retrain_workdir(run_id: str) -> Path:
    """Scratch space for one retrain run (shared storage: tasks may run on different workers).

    Raises ValueError if the resolved directory is not a child of :func:`retrain_root` (a symlink
    planted under that name, say): a run must never write, or later prune, outside it.
    """
    parent = retrain_root().resolve()
    path = (parent / safe_name(run_id)).resolve()
    if path.parent != parent:
        raise ValueError(f"the retrain workdir for run {run_id!r} resolves to {path}, outside {parent}.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def train_config(params: dict[str, Any]):
    """A ``TrainConfig`` from the DAG params (the recipe, then the overrides that are set)."""
    from jobclass.training.config import TrainConfig, with_overrides
    from jobclass.training.recipes import DEFAULT_RECIPE

    base = TrainConfig.recipe(params.get("recipe") or DEFAULT_RECIPE)
    config = with_overrides(
        base,
        epochs=params.get("epochs"),
        batch_size=params.get("batch_size"),
        learning_rate=params.get("learning_rate"),
        max_pairs=params.get("max_examples"),
        max_steps=params.get("max_steps"),
        device=params.get("device"),
    )
    # The DAG evaluates on its own frozen held-out set (step 5), not inside training.
    return replace(config, benchmarks=(), show_progress=False)


def is_held_out_posting(posting_id: str) -> bool:
    from jobclass.hashing import bucket

    return bucket(f"label-holdout:{posting_id}") < LABEL_HOLDOUT_PERCENT


def build_training_set(engine, workdir: Path) -> dict:
    """Step 1: reviewed labels split by a hash of the posting id into training and held-out slices.

    Labels on a benchmark posting (the hand-coded real postings, :func:`benchmark_posting_ids`) are
    skipped and counted: a reviewer who works through the demo queue must not train the next model
    on the postings it is measured on."""
    from jobclass.evaluation.real_postings import benchmark_posting_ids
    from jobclass.store.labels import read_reviewed_labels

    labels = read_reviewed_labels(engine)
    on_benchmark = labels["posting_id"].isin(benchmark_posting_ids())
    skipped = int(on_benchmark.sum())
    labels = labels[~on_benchmark].reset_index(drop=True)
    if skipped:
        log.warning("Skipped %d reviewed labels on benchmark postings (real-postings files): never trained on", skipped)
    else:
        log.info("Skipped 0 reviewed labels on benchmark postings")
    held = labels["posting_id"].map(is_held_out_posting) if len(labels) else labels["posting_id"].astype(bool)
    train, holdout = labels[~held], labels[held]
    train_path, holdout_path = workdir / "labels_train.parquet", workdir / "labels_holdout.parquet"
    train.to_parquet(train_path, index=False)
    holdout.to_parquet(holdout_path, index=False)
    log.info(
        "Training set: O*NET corpus + %d reviewed labels (%d more held out for evaluation)", len(train), len(holdout)
    )
    return {
        "labels_train": str(train_path),
        "labels_holdout": str(holdout_path),
        "n_labels_train": len(train),
        "n_labels_holdout": len(holdout),
        "n_labels_skipped_benchmark": skipped,
    }


def _labelled(path: str):
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame[["title", "body", "onet_code"]] if len(frame) else None


def finetune_embeddings(params: dict[str, Any], training_set: dict, workdir: Path) -> dict:
    """Step 2: contrastive fine-tuning of the encoder; saves it under the run's workdir. It keeps a
    checkpoint there too (the workdir is the DAG run's), so a retry after a worker died resumes the
    fine-tuning where it stopped instead of starting over."""
    from dataclasses import replace

    from jobclass.training.finetune import finetune_to_dir

    config = train_config(params)
    if config.checkpoint_dir is None:
        config = replace(config, checkpoint_dir=str(workdir / "finetune-checkpoint"))
    labelled = _labelled(training_set["labels_train"])
    encoder_path, metrics = finetune_to_dir(config, workdir / "encoder", labelled=labelled)
    return {"encoder_path": str(encoder_path), "finetune": metrics}


def train_head(params: dict[str, Any], training_set: dict, finetuned: dict) -> dict:
    """Step 3: the LR head (and index, profiles, calibration) on the fine-tuned encoder; saves the bundle."""
    from jobclass.model.bundle import save_bundle
    from jobclass.paths import models_dir
    from jobclass.training.train import train_model

    config = train_config(params)
    labelled = _labelled(training_set["labels_train"])
    classifier = train_model(config, labelled=labelled, encoder_path=finetuned["encoder_path"])
    path = save_bundle(classifier, models_dir() / classifier.version)
    log.info("Trained %s, saved to %s", classifier.version, path)
    return {"version": classifier.version, "path": str(path)}


def register_challenger(engine, challenger: dict, params: dict[str, Any]) -> dict:
    """Step 4: the new model in ``model_versions`` as a challenger."""
    from jobclass.store.registry import register_model

    reason = "weekly retrain (dry run)" if params.get("dry_run") else "weekly retrain"
    register_model(engine, challenger["version"], challenger["path"], {}, None, status="challenger", reason=reason)
    return challenger


def params_dict(params: Any) -> dict[str, Any]:
    """Plain values from Airflow's ParamsDict (or any mapping)."""
    return {k: params[k] for k in params} if params is not None else {}

