"""The proxy-softmax fine-tuning objective, on a small real slice of the O*NET corpus."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_proxy_softmax_pulls_titles_towards_their_occupation(taxonomy):
    from jobclass.cleaning import clean_title
    from jobclass.encoder import encode, load_encoder
    from jobclass.finetune import ProxySettings, finetune_proxy_softmax

    codes = taxonomy.codes[::50][:12]
    alt = taxonomy.alternate_titles[taxonomy.alternate_titles["code"].isin(codes)]
    alt = alt.groupby("code").head(8)
    texts = [clean_title(t) for t in alt["alternate_title"]]
    index_of = {c: i for i, c in enumerate(codes)}
    labels = alt["code"].map(index_of).to_numpy()
    encoder = load_encoder(device="cpu")
    official = [clean_title(taxonomy.title_of[c]) for c in codes]
    proxies = encode(encoder, official)

    def train_accuracy() -> float:
        return float(((encode(encoder, texts) @ encode(encoder, official).T).argmax(1) == labels).mean())

    before = train_accuracy()
    metrics = finetune_proxy_softmax(
        encoder, texts, labels, proxies, ProxySettings(max_steps=12, batch_size=16, learning_rate=1e-4, show_progress=False)
    )
    assert metrics["train_steps"] == 12 and np.isfinite(metrics["train_loss"])
    assert not encoder.training, "the encoder is left in eval mode"
    assert train_accuracy() >= before


def test_length_grouped_batches_cover_an_epoch_once_with_similar_lengths():
    from jobclass.finetune import length_grouped_batches

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

    from jobclass.training import TrainConfig, finetune, training_corpus

    config = replace(TrainConfig.tiny(), finetune_objective="triplet")
    with pytest.raises(ValueError, match="finetune_objective"):
        finetune(config, training_corpus(config, taxonomy), taxonomy)


def test_the_default_recipe_is_proxy_softmax_on_titles_and_tasks_and_the_others_stay_available():
    from jobclass.training import TrainConfig

    assert TrainConfig.recipe("default").finetune_objective == "proxy"
    mnrl = TrainConfig.recipe("mnrl")
    assert mnrl.finetune_objective == "mnrl" and mnrl.name == "mnrl" and "task" not in mnrl.finetune_sources
    assert TrainConfig.recipe("default").finetune_sources == ("alternate_title", "short_title", "task")
    titles = TrainConfig.recipe("titles")
    assert titles.finetune_sources == ("alternate_title", "short_title") and titles.name == "titles"
