"""What a training run can tune: :class:`TrainConfig`, built from a recipe (:mod:`jobclass.training.recipes`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from jobclass.model.base_encoders import MINILM
from jobclass.model.cleaning import DUTY_SENTENCE_SCORE
from jobclass.training.objectives import ProxySettings
from jobclass.training.recipes import TITLE_VIEWS, get_recipe


@dataclass(frozen=True)
class TrainConfig:
    """What ``jobclass train`` and the weekly retrain can tune. The defaults are the ``default``
    recipe: 3 epochs of proxy-softmax fine-tuning on titles and task statements; they fit 2 CPU cores."""

    epochs: float = 3.0
    batch_size: int = 64
    learning_rate: float = 5e-5
    max_pairs: int | None = None  # cap on fine-tuning examples (None: every training text)
    max_steps: int | None = None  # cap on fine-tuning steps (the time budget)
    device: str = "auto"
    finetune: bool = True
    # One of jobclass.training.recipes.OBJECTIVES. "proxy": normalised softmax over one learned proxy
    # per occupation, initialised at its official title; "mnrl": (title, occupation title, sibling
    # title) triples (see jobclass.training.objectives).
    finetune_objective: str = "proxy"
    # Fine-tuning views of each occupation: its titles and its (training-split) task statements;
    # an extra title source named here (see extra_title_sources) is fine-tuned on too.
    finetune_sources: tuple[str, ...] = (*TITLE_VIEWS, "task")
    finetune_max_seq_length: int = 24
    proxy_scale: float = ProxySettings.scale
    proxy_margin: float = ProxySettings.margin
    # How often a field title (incumbent-reported or from job postings) is drawn per epoch.
    field_title_weight: int = 1
    max_per_code: int | None = None  # cap on corpus rows per occupation (tiny models)
    # Labelled title sources of jobclass.training.title_sources (dmtf, dol_h2, esco) whose titles, those new
    # to the corpus, train the heads; benchmark titles are removed. Each is kept only if the ablation
    # (benchmarks/ablation_signals.py) shows that it helps on held-out real postings.
    extra_title_sources: tuple[str, ...] = ()
    extra_titles_weak: bool = False  # also rows whose code is one of several candidates
    extra_titles_max_per_code: int | None = None  # per (source, code); None: every row
    extra_titles_in_index: bool = True  # also entries of the nearest-title index
    # Unlabelled pair sources of jobclass.training.title_sources (questionnaires: title and duty item;
    # usajobs_series: two titles of one OPM series) for an MNRL stage before the main fine-tuning.
    finetune_pair_sources: tuple[str, ...] = ()
    pair_epochs: float = 1.0
    pair_max_steps: int | None = None
    pair_max_seq_length: int = 64
    # Strength of the training-prior correction of the LR head (see LogisticHead.prior_corrected);
    # None: fitted on class-balanced validation likelihood.
    prior_correction: float | None = None
    # The semantic index's penalty per log(1 + entries) of a label (see SemanticIndex); None: fitted
    # the same way.
    index_count_penalty: float | None = None
    lr_c: float = 10.0
    lr_max_iter: int = 300
    body_weight: float = 0.5
    fit_body_weight: bool = True
    # Body sentences under this duty score are not read (see ModelSettings.min_duty_score).
    body_min_duty_score: float = DUTY_SENTENCE_SCORE
    benchmarks: tuple[str, ...] = ("reported-titles", "composed-postings", "ad-titles", "real-postings")
    # Where the review threshold is fitted: "real-postings" (the hand-coded postings, reported with
    # cross-validation) or "validation" (held-out O*NET titles, as before; tests use it).
    review_threshold_from: str = "real-postings"
    benchmark_limit: int | None = None  # evaluate on a fixed subsample (tests)
    seed: int = 0
    show_progress: bool = True
    # Keep a checkpoint of the fine-tuning every checkpoint_every steps here; a run of the same
    # config on the same data resumes from it (jobclass.training.checkpoints). None: no checkpoint.
    checkpoint_dir: str | None = None
    checkpoint_every: int = 200
    name: str = "default"  # the recipe's name; part of the model version
    # The pretrained encoder to start from (jobclass.model.base_encoders): MiniLM, or the opt-in mpnet.
    base_encoder: str = MINILM

    @classmethod
    def recipe(cls, name: str) -> TrainConfig:
        """The config of a named recipe (see :data:`jobclass.training.recipes.RECIPES`)."""
        return cls(name=name, **get_recipe(name).overrides)


def with_overrides(config: TrainConfig, **overrides: Any) -> TrainConfig:
    """``config`` with each override that is not None (unset CLI flags and DAG params keep the recipe's)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
