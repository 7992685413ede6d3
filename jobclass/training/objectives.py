"""The fine-tuning objectives of the encoder (:data:`jobclass.training.recipes.OBJECTIVES`), each a
function that fine-tunes a sentence-transformers model in place on given texts:

- :func:`fit_proxy_softmax` (``proxy``, the default): a proxy-based contrastive loss (normalised
  softmax, as in Proxy-NCA and NormFace) that contrasts each title with a learned proxy of every
  occupation; a plain torch loop;
- :func:`fit_mnrl` (``mnrl``): MultipleNegativesRankingLoss, in-batch negatives plus a sibling hard
  negative, with the sentence-transformers Trainer.

The settings' defaults serve direct callers; a training run sets epochs, batch size, learning rate,
steps and sequence length from its :class:`jobclass.training.config.TrainConfig`
(:func:`jobclass.training.finetune.objective_settings`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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
    # Where the proxy fit keeps a checkpoint every ``checkpoint_every`` steps (None: none), so that
    # a killed run resumes there (jobclass.training.checkpoints).
    checkpoint_dir: str | None = None
    checkpoint_every: int = 200


def fit_mnrl(
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


@dataclass(frozen=True)
class ProxySettings(FinetuneSettings):
    """Normalised-softmax fine-tuning: one learned proxy vector per occupation."""

    epochs: float = 2.0
    max_seq_length: int = 24
    proxy_learning_rate: float = 5e-3  # ``learning_rate`` is the encoder's
    scale: float = 20.0  # inverse temperature of the cosine logits
    margin: float = 0.0  # additive cosine margin on the true occupation (CosFace); 0: plain softmax
    # Batches drawn from pools of this many batches sorted by token length, so short titles are not
    # padded to the length of a task statement; 1: plain random batches.
    length_group: int = 50


def length_grouped_batches(lengths: np.ndarray, batch_size: int, group: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of full batches of indices into ``lengths``, each of texts of similar length.

    As Hugging Face's ``LengthGroupedSampler``: shuffle, cut into pools of ``group`` batches,
    sort each pool by length, cut it into batches, and shuffle the batches. Every index appears
    at most once; the ``len % batch_size`` left over (a random set) wait for the next epoch.
    """
    order = rng.permutation(len(lengths))
    pool_size = batch_size * max(1, group)
    pools = [order[i : i + pool_size] for i in range(0, len(order), pool_size)]
    sorted_order = np.concatenate([pool[np.argsort(lengths[pool], kind="stable")] for pool in pools])
    n_full = max(1, len(sorted_order) // batch_size)
    batches = [sorted_order[i * batch_size : (i + 1) * batch_size] for i in range(n_full)]
    return [batches[i] for i in rng.permutation(n_full)]


def fit_proxy_softmax(
    model: SentenceTransformer,
    texts: list[str],
    labels: np.ndarray,
    init_proxies: np.ndarray,
    settings: ProxySettings,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Fine-tune ``model`` in place so each text's embedding is nearest its occupation's proxy.

    The loss is cross-entropy over ``scale`` x cosine(embedding, proxy) for every occupation at
    once: each step contrasts a text with all 1,016 codes (every other proxy is a negative), not
    only with the texts of its batch. Proxies start
    at ``init_proxies`` (the occupations' official-title embeddings) and are learned too.
    """
    import torch
    import torch.nn.functional as F
    from transformers import get_linear_schedule_with_warmup

    device = model.device
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    n = len(texts)
    steps_per_epoch = max(1, n // settings.batch_size)
    total = settings.max_steps or max(1, int(round(settings.epochs * steps_per_epoch)))
    proxies = torch.nn.Parameter(torch.tensor(init_proxies, dtype=torch.float32, device=device))
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": settings.learning_rate},
            {"params": [proxies], "lr": settings.proxy_learning_rate, "weight_decay": 0.0},
        ],
        weight_decay=0.01,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)
    previous_length = model.max_seq_length
    model.max_seq_length = settings.max_seq_length
    log.info(
        "Proxy-softmax fine-tuning on %d texts over %d codes, batch %d, %d steps (%.2f epochs), device=%s",
        n, len(init_proxies), settings.batch_size, total, total / steps_per_epoch, device,
    )
    labels_t = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    tokens = model.tokenizer(texts, truncation=True, max_length=settings.max_seq_length)["input_ids"]
    lengths = np.array([len(ids) for ids in tokens])
    model.train()
    batches: list[np.ndarray] = []
    losses: list[float] = []
    first = 0
    checkpoint = None
    if settings.checkpoint_dir:
        from jobclass.training.checkpoints import FitCheckpoint, fit_fingerprint

        checkpoint = FitCheckpoint(Path(settings.checkpoint_dir), fit_fingerprint(settings, texts, labels, init_proxies))
        saved = checkpoint.load()
        if saved is not None:
            model.load_state_dict(saved["model"])
            with torch.no_grad():
                proxies.copy_(saved["proxies"].to(device))
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
            rng.bit_generator.state = saved["rng"]
            torch.set_rng_state(saved["torch_rng"])
            batches, losses, first = list(saved["batches"]), list(saved["losses"]), int(saved["step"])
    progress = None
    if settings.show_progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=total, initial=first, desc="fine-tune (proxy softmax)")
    started = time.perf_counter()
    for step in range(first, total):
        if not batches:
            batches = length_grouped_batches(lengths, settings.batch_size, settings.length_group, rng)
        batch = batches.pop()
        features = model.tokenize([texts[i] for i in batch])
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        embeddings = F.normalize(model(features)["sentence_embedding"], dim=-1)
        cosines = embeddings @ F.normalize(proxies, dim=-1).T
        targets = labels_t[batch].to(device)
        if settings.margin:
            cosines = cosines - settings.margin * F.one_hot(targets, cosines.shape[1])
        loss = F.cross_entropy(settings.scale * cosines, targets)
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
                "fine-tune step %d/%d: loss %.3f (mean of the last %d), %.2f s/step",
                step + 1, total, np.mean(losses[-50:]), min(50, len(losses)),
                (time.perf_counter() - started) / (step + 1 - first),
            )
        if checkpoint is not None and (step + 1) % max(1, settings.checkpoint_every) == 0 and step + 1 < total:
            checkpoint.save(
                step + 1,
                {
                    "model": model.state_dict(), "proxies": proxies.detach().cpu(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "batches": batches, "losses": losses,
                },
            )
        if on_step is not None:
            on_step(step + 1)
    if progress is not None:
        progress.close()
    if checkpoint is not None:
        checkpoint.clear()
    model.max_seq_length = previous_length
    model.eval()
    metrics = {"train_loss": float(np.mean(losses[-50:])), "train_steps": float(total)}
    log.info("Fine-tuning done: %s", metrics)
    return metrics
