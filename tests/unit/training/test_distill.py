"""Distilling a teacher's embeddings into a student encoder (jobclass.training.distill)."""

from __future__ import annotations

import numpy as np
import pytest
from test_finetune import held_out_split


def cosines(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


def test_reduce_to_keeps_the_cosines_of_vectors_within_the_kept_rank():
    """768-d vectors that span only 20 directions lose no cosine when cut to 384 dimensions, and
    come out unit-length; cutting them below their rank does lose some."""
    from jobclass.training.distill import reduce_to

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 20)) @ rng.normal(size=(20, 768))
    reduced, projection = reduce_to(vectors, 384)
    assert reduced.shape == (200, 384) and projection.shape == (768, 384)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(cosines(reduced), cosines(vectors), atol=1e-4)
    cut, _ = reduce_to(vectors, 5)
    assert np.abs(cosines(cut) - cosines(vectors)).max() > 0.05
    with pytest.raises(ValueError, match="cannot reduce"):
        reduce_to(vectors[:, :10], 384)


def test_align_to_finds_the_rotation_from_a_sample_and_changes_no_cosine():
    """Targets that are the student's vectors in another orthogonal basis are rotated back onto
    them, from a sample of rows; their cosines are untouched."""
    from jobclass.training.distill import align_to

    rng = np.random.default_rng(1)
    student = rng.normal(size=(300, 16)).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    targets = (student @ rotation.T).astype(np.float32)
    rows = np.arange(0, 300, 3)
    aligned = align_to(targets, student[rows], rows)
    np.testing.assert_allclose(aligned, student, atol=1e-4)
    np.testing.assert_allclose(cosines(aligned), cosines(targets), atol=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        align_to(targets, student[:10], rows)


def test_distillation_texts_are_distinct_cleaned_and_free_of_benchmark_titles(taxonomy):
    """The fine-tuning texts come first, once each; the questionnaires add federal titles and duty
    items, cleaned; a title that is a benchmark title is left out, with its items."""
    from jobclass.model.cleaning import clean_body, clean_title
    from jobclass.training.distill import distillation_texts
    from jobclass.training.title_sources import benchmark_title_keys, questionnaire_pairs, title_keys

    excluded = benchmark_title_keys(taxonomy)
    pairs = questionnaire_pairs(excluded)
    texts = distillation_texts(["registered nurse", "registered nurse", "welder"], excluded, max_items=1)
    assert texts[:2] == ["registered nurse", "welder"] and len(texts) == len(set(texts))
    assert set(pairs["title"].map(clean_title)) <= set(texts)
    title = pairs["title"].iloc[0]
    only_its_items = set(pairs.loc[pairs["title"] == title, "item"]) - set(pairs.loc[pairs["title"] != title, "item"])
    assert only_its_items, "pick a title with an item of its own"
    without = set(distillation_texts([], excluded | title_keys(title), max_items=None))
    assert clean_title(title) not in without
    assert not {clean_body(item, 10_000) for item in only_its_items} & without


def test_the_student_must_match_the_targets_width():
    from jobclass.model.encoder import load_encoder
    from jobclass.training.distill import DistillSettings, fit_distillation

    student = load_encoder(device="cpu")
    with pytest.raises(ValueError, match="reduce them first"):
        fit_distillation(student, ["a", "b"], np.zeros((2, 768), np.float32), DistillSettings(max_steps=1))


@pytest.mark.slow
def test_a_distilled_student_takes_the_teachers_geometry_on_titles_it_never_saw(taxonomy):
    """A teacher that maps every title of an occupation near one point of its own: a student
    distilled on some titles of 16 occupations groups the held-out titles by occupation better
    than before (nearest centroid of the training titles), and its embeddings move towards the
    targets. A fit that does nothing fails both."""
    from jobclass.model.encoder import encode, load_encoder
    from jobclass.training.distill import DistillSettings, align_to, fit_distillation

    codes, train, held = held_out_split(taxonomy)
    student = load_encoder(device="cpu")
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(len(codes), 384))
    labels = train["label"].to_numpy()
    targets = prototypes[labels] + 0.3 * rng.normal(size=(len(labels), 384))
    targets = (targets / np.linalg.norm(targets, axis=1, keepdims=True)).astype(np.float32)
    texts = train["text"].tolist()
    targets = align_to(targets, encode(student, texts))

    def centroid_accuracy() -> float:
        X = encode(student, texts)
        centroids = np.stack([X[labels == i].mean(0) for i in range(len(codes))])
        guess = (encode(student, held["text"].tolist()) @ centroids.T).argmax(1)
        return float((guess == held["label"].to_numpy()).mean())

    before_accuracy = centroid_accuracy()
    before_error = float(((encode(student, texts) - targets) ** 2).sum(1).mean())
    metrics = fit_distillation(student, texts, targets, DistillSettings(max_steps=40, batch_size=16, learning_rate=2e-4, show_progress=False))
    after_error = float(((encode(student, texts) - targets) ** 2).sum(1).mean())
    after_accuracy = centroid_accuracy()
    assert metrics["train_steps"] == 40 and not student.training
    assert after_error <= 0.8 * before_error, (before_error, after_error)
    assert after_accuracy >= before_accuracy + 0.03, (before_accuracy, after_accuracy)


def test_fine_tuning_can_start_from_a_given_encoder(taxonomy):
    """``finetune(start=...)`` works on the encoder it is given (a distilled student), not on a
    fresh copy of the config's base encoder."""
    from dataclasses import replace

    import pandas as pd

    from jobclass.model.encoder import load_encoder
    from jobclass.training.config import TrainConfig
    from jobclass.training.finetune import finetune

    student = load_encoder(device="cpu")
    encoder, metrics = finetune(replace(TrainConfig(), finetune=False), pd.DataFrame(), taxonomy, start=student)
    assert encoder is student and metrics == {}
