"""The proxy-softmax fine-tuning objective, on a small real slice of the O*NET corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

HELD_OUT_PER_CODE = 6


def held_out_split(taxonomy, n_codes: int = 16, per_code: int = 18) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """``n_codes`` occupations with many alternate titles, and per code ``per_code`` of their
    cleaned titles, chosen by a stable hash: the first HELD_OUT_PER_CODE held out (never trained
    on), the rest for training."""
    from jobclass.hashing import bucket
    from jobclass.model.cleaning import clean_title

    alt = taxonomy.alternate_titles
    counts = alt.groupby("code").size()
    rich = [c for c in taxonomy.codes if counts.get(c, 0) >= 20]
    codes = rich[:: len(rich) // n_codes][:n_codes]
    titles = alt[alt["code"].isin(codes)].assign(text=lambda f: f["alternate_title"].map(clean_title))
    titles = titles.drop_duplicates("text", keep=False)  # a text of two codes is no fair test
    titles = titles.assign(_k=titles["text"].map(lambda s: bucket(f"held-out:{s}", 1 << 30))).sort_values("_k")
    titles = titles.groupby("code").head(per_code)
    titles = titles.assign(label=titles["code"].map({c: i for i, c in enumerate(codes)}))
    held = titles.groupby("code").cumcount() < HELD_OUT_PER_CODE
    return codes, titles[~held], titles[held]


def nearest_title_scores(encoder, texts: list[str], labels: np.ndarray, official: list[str]) -> tuple[float, float]:
    """Accuracy of the nearest official title, and the mean softmax NLL of the true one (scale 20)."""
    from scipy.special import log_softmax

    from jobclass.model.encoder import encode

    cosines = encode(encoder, texts) @ encode(encoder, official).T
    accuracy = float((cosines.argmax(1) == labels).mean())
    nll = float(-log_softmax(20.0 * cosines, axis=1)[np.arange(len(labels)), labels].mean())
    return accuracy, nll


@pytest.mark.slow
def test_proxy_softmax_improves_titles_it_never_saw(taxonomy):
    """Fine-tuned on some alternate titles of 16 occupations, the encoder puts the others (held
    out) nearer their occupation's official title than the untuned encoder does: a fine-tune that
    does nothing, or that only memorises its training texts, fails."""
    from jobclass.model.cleaning import clean_title
    from jobclass.model.encoder import encode, load_encoder
    from jobclass.training.objectives import ProxySettings, fit_proxy_softmax

    codes, train, held = held_out_split(taxonomy)
    assert not set(train["text"]) & set(held["text"]) and len(held) == HELD_OUT_PER_CODE * len(codes)
    official = [clean_title(taxonomy.title_of[c]) for c in codes]
    encoder = load_encoder(device="cpu")
    held_texts, held_labels = held["text"].tolist(), held["label"].to_numpy()
    before_accuracy, before_nll = nearest_title_scores(encoder, held_texts, held_labels, official)

    settings = ProxySettings(max_steps=12, batch_size=16, learning_rate=1e-4, show_progress=False)
    metrics = fit_proxy_softmax(
        encoder, train["text"].tolist(), train["label"].to_numpy(), encode(encoder, official), settings
    )
    assert metrics["train_steps"] == 12 and np.isfinite(metrics["train_loss"])
    assert not encoder.training, "the encoder is left in eval mode"

    after_accuracy, after_nll = nearest_title_scores(encoder, held_texts, held_labels, official)
    # Measured: accuracy 0.708 -> 0.802 and NLL 0.81 -> 0.53 on the 96 held-out titles; with the
    # encoder's learning rate at 0 (proxies still learning), both stay where they were.
    assert after_accuracy >= before_accuracy + 0.05, (before_accuracy, after_accuracy)
    assert after_nll <= before_nll - 0.1, (before_nll, after_nll)


def test_length_grouped_batches_cover_an_epoch_once_with_similar_lengths():
    from jobclass.training.objectives import length_grouped_batches

    lengths = np.random.default_rng(1).integers(3, 25, size=1000)
    batches = length_grouped_batches(lengths, 32, 10, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert all(len(b) == 32 for b in batches) and len(batches) == 1000 // 32
    assert len(np.unique(flat)) == len(flat), "no text twice in an epoch"
    grouped_spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_batches = length_grouped_batches(lengths, 32, 1, np.random.default_rng(0))
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in random_batches])
    assert grouped_spread < random_spread / 3
    again = length_grouped_batches(lengths, 32, 10, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(batches, again)), "the seed fixes the batches"
    assert len(length_grouped_batches(lengths[:5], 32, 10, np.random.default_rng(0))[0]) == 5


def test_unknown_objective_is_refused(taxonomy):
    from dataclasses import replace

    from jobclass.training.config import TrainConfig
    from jobclass.training.dataset import training_corpus
    from jobclass.training.finetune import finetune

    config = replace(TrainConfig.recipe("tiny"), finetune_objective="triplet")
    with pytest.raises(ValueError, match="finetune_objective"):
        finetune(config, training_corpus(config, taxonomy), taxonomy)


def test_the_default_recipe_is_proxy_softmax_on_titles_and_tasks_and_the_others_stay_available():
    from jobclass.training.config import TrainConfig

    assert TrainConfig.recipe("default").finetune_objective == "proxy"
    mnrl = TrainConfig.recipe("mnrl")
    assert mnrl.finetune_objective == "mnrl" and mnrl.name == "mnrl" and "task" not in mnrl.finetune_sources
    assert TrainConfig.recipe("default").finetune_sources == ("alternate_title", "short_title", "task")
    titles = TrainConfig.recipe("titles")
    assert titles.finetune_sources == ("alternate_title", "short_title") and titles.name == "titles"
