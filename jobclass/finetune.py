"""Contrastive fine-tuning of the encoder with the sentence-transformers Trainer."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: float = 1.0
    batch_size: int = 64
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    max_steps: int | None = None
    max_seq_length: int = 48
    seed: int = 0
    show_progress: bool = True


def finetune_encoder(
    model: SentenceTransformer,
    train_pairs: pd.DataFrame,
    settings: FinetuneSettings,
    validation_pairs: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Fine-tune ``model`` in place with MultipleNegativesRankingLoss.

    ``train_pairs`` has columns anchor, positive and optionally negative (a hard negative).
    Batches never hold the same text twice (no duplicate label: the positive is the
    occupation title). Returns the training loss and, if given, the validation loss.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from sentence_transformers.training_args import BatchSamplers

    columns = [c for c in ("anchor", "positive", "negative") if c in train_pairs and train_pairs[c].ne("").all()]
    train = Dataset.from_pandas(train_pairs[columns].reset_index(drop=True), preserve_index=False)
    evaluation = None
    # Full validation batches only (the loader drops the last, partial one).
    if validation_pairs is not None and len(validation_pairs) >= settings.batch_size:
        evaluation = Dataset.from_pandas(validation_pairs[columns].reset_index(drop=True), preserve_index=False)

    previous_length = model.max_seq_length
    model.max_seq_length = settings.max_seq_length
    steps_per_epoch = max(1, len(train) // settings.batch_size)
    log.info(
        "Fine-tuning on %d pairs (%s), batch %d, %.2f epochs (~%d steps/epoch), max_steps=%s, device=%s",
        len(train), "+".join(columns), settings.batch_size, settings.epochs, steps_per_epoch,
        settings.max_steps, model.device,
    )
    with tempfile.TemporaryDirectory(prefix="jobclass-finetune-") as output_dir:
        args = SentenceTransformerTrainingArguments(
            output_dir=output_dir,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps if settings.max_steps else -1,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            warmup_ratio=settings.warmup_ratio,
            lr_scheduler_type="linear",
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            eval_strategy="no",
            logging_steps=max(1, min(50, steps_per_epoch // 10)),
            report_to=[],
            seed=settings.seed,
            data_seed=settings.seed,
            use_cpu=model.device.type == "cpu",
            disable_tqdm=not settings.show_progress,
            dataloader_drop_last=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evaluation,
            loss=losses.MultipleNegativesRankingLoss(model),
        )
        result = trainer.train()
        metrics = {"train_loss": float(result.training_loss), "train_steps": float(result.global_step)}
        if evaluation is not None:
            metrics["validation_loss"] = float(trainer.evaluate()["eval_loss"])
    model.max_seq_length = previous_length
    model.eval()
    log.info("Fine-tuning done: %s", metrics)
    return metrics
