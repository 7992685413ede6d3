"""Each step of ``train_model`` on its own, on a synthetic taxonomy and a stand-in encoder (seconds).

The stand-in encoder puts a text near the centre of the occupation whose keyword it holds, so the
heads have something to learn; nothing here loads torch or the O*NET files, except the last tests,
which calibrate the tiny real model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from jobclass.evaluation.benchmark import make_benchmark
from jobclass.hashing import bucket
from jobclass.model.classifier import JobClassifier, ModelSettings
from jobclass.onet.corpus import CORPUS_COLUMNS
from jobclass.onet.taxonomy import Taxonomy, major_group_of, soc6_of
from jobclass.training import calibration
from jobclass.training import train as train_module
from jobclass.training.config import TrainConfig
from jobclass.training.dataset import EncodedCorpus, cap_per_code, encode_corpus, index_sources, training_corpus
from jobclass.training.fit_heads import (
    INDEX_COUNT_PENALTY_GRID,
    INITIAL_HYBRID_WEIGHTS,
    PRIOR_CORRECTION_GRID,
    Heads,
    correct_heads,
    fit_heads,
    fit_hybrid,
)
from jobclass.training.train import (
    StepTimer,
    assemble_classifier,
    calibrate,
    evaluate,
    initial_settings,
    model_metadata,
    prepare_encoder,
    train_model,
)

KEYWORDS = {"executive": "11-1011.00", "software": "15-1252.00", "nurse": "29-1141.00", "truck": "53-3032.00"}
ROLES = [
    "specialist", "assistant", "lead", "associate", "coordinator", "officer", "technician", "aide", "consultant",
    "clerk", "helper", "trainee", "planner", "inspector", "operator",
]
PLACES = ["", " north", " south", " east", " west", " central"]
VERBS = ["monitor", "inspect", "prepare", "review", "maintain", "record", "operate", "schedule"]
OBJECTS = ["reports", "equipment", "records", "schedules", "supplies", "logs"]
DIM = 16


class StandInEncoder:
    """What :func:`jobclass.model.encoder.encode` asks of a SentenceTransformer: a unit vector per
    text, its occupation's centre (by keyword) plus a little noise fixed by the text."""

    device = "cpu"

    def __init__(self) -> None:
        self.centres = np.random.default_rng(0).normal(size=(len(KEYWORDS), DIM))
        self.calls = 0

    def get_embedding_dimension(self) -> int:
        return DIM

    def encode(self, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False):
        self.calls += 1
        rows = []
        for text in texts:
            noise = np.random.default_rng(bucket(text, 1 << 31)).normal(scale=0.6, size=DIM)
            hits = [i for i, word in enumerate(KEYWORDS) if word in text.lower()]
            rows.append(self.centres[hits].sum(axis=0) + noise if hits else noise)
        vectors = np.array(rows)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def toy_taxonomy() -> Taxonomy:
    """Four occupations, one per keyword; the first has the most titles (a skewed prior)."""
    codes = list(KEYWORDS.values())
    occupations = pd.DataFrame(
        {
            "code": codes,
            "title": [f"{word.title()} Workers" for word in KEYWORDS],
            "description": [f"{word.title()} workers do {word} work." for word in KEYWORDS],
            "soc6": [soc6_of(c) for c in codes],
            "major_group": [major_group_of(c) for c in codes],
            "job_zone": [3] * len(codes),
        }
    )
    alt, tasks, reported = [], [], []
    for k, (word, code) in enumerate(KEYWORDS.items()):
        places = PLACES if k == 0 else PLACES[:3]
        alt += [(code, f"{word} {role}{place}", "", "02") for role in ROLES for place in places]
        tasks += [(code, f"{k}{i:03d}", f"{verb.title()} {word} {obj}.", "Core")
                  for i, (verb, obj) in enumerate((v, o) for v in VERBS for o in OBJECTS)]
        reported += [(code, f"{word} worker{place}") for place in PLACES]
    return Taxonomy(
        occupations=occupations,
        alternate_titles=pd.DataFrame(alt, columns=["code", "alternate_title", "short_title", "sources"]),
        tasks=pd.DataFrame(tasks, columns=["code", "task_id", "task", "task_type"]),
        reported_titles=pd.DataFrame(reported, columns=["code", "reported_title"]),
    )


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    return dataclasses.replace(
        TrainConfig.recipe("tiny"), max_per_code=None, benchmarks=("reported-titles",), benchmark_limit=None
    )


@pytest.fixture(scope="module")
def corpus(config: TrainConfig, toy_taxonomy: Taxonomy) -> pd.DataFrame:
    return training_corpus(config, toy_taxonomy)


@pytest.fixture(scope="module")
def data(corpus: pd.DataFrame) -> EncodedCorpus:
    return encode_corpus(StandInEncoder(), corpus)


@pytest.fixture(scope="module")
def heads(data: EncodedCorpus, config: TrainConfig) -> Heads:
    return fit_heads(data, len(KEYWORDS), index_sources(config), C=config.lr_c, max_iter=config.lr_max_iter)


def without_validation(data: EncodedCorpus) -> EncodedCorpus:
    return dataclasses.replace(data, validation_titles=data.validation_titles.iloc[:0], X_val=data.X_val[:0])


# -- the corpus -----------------------------------------------------------------------------------
def test_the_synthetic_corpus_has_both_splits(corpus: pd.DataFrame) -> None:
    assert list(corpus.columns) == CORPUS_COLUMNS
    validation = corpus[corpus["split"] == "validation"]
    assert (validation["kind"] == "title").sum() >= 8 and (validation["source"] == "task").sum() >= 4


def test_cap_per_code_keeps_n_rows_per_code_split_and_kind_and_every_official_title(corpus: pd.DataFrame) -> None:
    capped = cap_per_code(corpus, 2)
    others = capped[capped["source"] != "official_title"]
    assert others.groupby(["code", "split", "kind"]).size().max() <= 2
    assert set(capped.loc[capped["source"] == "official_title", "code"]) == set(KEYWORDS.values())
    assert cap_per_code(corpus, 2).equals(capped), "the choice is a stable hash"
    assert capped.index.is_monotonic_increasing


# -- the encoder ----------------------------------------------------------------------------------
def test_prepare_encoder_takes_a_given_encoder_else_a_saved_one_else_fine_tunes(
    config: TrainConfig, corpus: pd.DataFrame, toy_taxonomy: Taxonomy, tmp_path, monkeypatch
) -> None:
    given = StandInEncoder()
    assert prepare_encoder(config, corpus, toy_taxonomy, encoder=given) == (given, {})

    monkeypatch.setattr(train_module, "load_encoder", lambda path, device: ("loaded", str(path), device))
    (tmp_path / "finetune_metrics.json").write_text(json.dumps({"train_loss": 1.5}))
    assert prepare_encoder(config, corpus, toy_taxonomy, encoder_path=tmp_path) == (
        ("loaded", str(tmp_path), config.device), {"train_loss": 1.5}
    )
    (tmp_path / "finetune_metrics.json").unlink()
    assert prepare_encoder(config, corpus, toy_taxonomy, encoder_path=tmp_path)[1] == {}

    monkeypatch.setattr(train_module, "finetune", lambda c, k, t: ("tuned", {"train_steps": 4.0}))
    assert prepare_encoder(config, corpus, toy_taxonomy) == ("tuned", {"train_steps": 4.0})


def test_encode_corpus_encodes_the_training_rows_and_the_validation_titles(corpus: pd.DataFrame) -> None:
    encoder = StandInEncoder()
    data = encode_corpus(encoder, corpus)
    train = corpus[corpus["split"] == "train"]
    assert data.X.shape == (len(train), DIM) and data.X.dtype == np.float32
    assert list(data.train.index) == list(range(len(train))) and (data.y == train["label"].to_numpy()).all()
    assert (data.validation_titles["kind"] == "title").all() and (data.validation_titles["split"] == "validation").all()
    assert data.X_val.shape == (len(data.validation_titles), DIM) and data.has_validation
    assert len(data.y_val) == len(data.validation_titles)
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, rtol=1e-5)


# -- the heads ------------------------------------------------------------------------------------
def test_fit_heads_fits_the_three_heads_on_the_training_rows(data: EncodedCorpus, heads: Heads) -> None:
    assert heads.logistic.seen.all() and heads.logistic.coef.shape == (len(KEYWORDS), DIM)
    index_rows = data.train[data.train["source"].isin(index_sources(TrainConfig()))]
    assert sorted(heads.index.texts) == sorted(index_rows["text"]) and "task" not in set(data.train.loc[
        data.train["text"].isin(heads.index.texts), "source"])
    assert heads.index.count_penalty == 0.0
    np.testing.assert_allclose(np.linalg.norm(heads.profile.centroids, axis=1), 1.0, rtol=1e-5)
    features = heads.features(data.X_val)
    assert [f.shape for f in features] == [(len(data.y_val), len(KEYWORDS))] * 3
    assert (features[0].argmax(1) == data.y_val).mean() > 0.9, "the keyword decides: the LR learns it"


def test_correct_heads_uses_given_values_and_fits_the_others(data: EncodedCorpus, heads: Heads) -> None:
    corrected, values = correct_heads(heads, data, prior_correction=0.5, index_count_penalty=0.04)
    assert values == {"prior_correction": 0.5, "index_count_penalty": 0.04}
    assert corrected.index.count_penalty == 0.04 and heads.index.count_penalty == 0.0, "a new index; the old is unchanged"
    assert corrected.profile is heads.profile
    assert not np.allclose(corrected.logistic.intercept, heads.logistic.intercept)

    fitted, values = correct_heads(heads, data)
    assert values["prior_correction"] in PRIOR_CORRECTION_GRID
    assert values["index_count_penalty"] in INDEX_COUNT_PENALTY_GRID
    assert fitted.index.count_penalty == values["index_count_penalty"]


def test_correct_heads_without_validation_titles_changes_nothing(data: EncodedCorpus, heads: Heads) -> None:
    assert correct_heads(heads, without_validation(data)) == (heads, {})


def test_fit_hybrid_fits_on_validation_titles_else_keeps_the_initial_weights(data: EncodedCorpus, heads: Heads) -> None:
    assert fit_hybrid(heads, without_validation(data)).weights.tolist() == list(INITIAL_HYBRID_WEIGHTS)
    hybrid = fit_hybrid(heads, data)
    assert (hybrid.weights >= 0).all() and hybrid.weights.tolist() != list(INITIAL_HYBRID_WEIGHTS)
    probs = hybrid.proba(heads.features(data.X_val))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


# -- the classifier and its calibration -------------------------------------------------------------
def test_initial_settings_take_the_config_and_the_validation_threshold(
    config: TrainConfig, data: EncodedCorpus, heads: Heads
) -> None:
    hybrid = fit_hybrid(heads, data)
    config = dataclasses.replace(config, body_weight=0.75)
    settings = initial_settings(config, heads, hybrid, data)
    assert settings.body_weight == 0.75 and settings.min_duty_score == config.body_min_duty_score
    expected = calibration.validation_review_threshold(hybrid.proba(heads.features(data.X_val)), data.y_val)
    assert settings.review_threshold == expected
    bare = initial_settings(config, heads, hybrid, without_validation(data))
    assert bare.review_threshold == ModelSettings().review_threshold


def test_assemble_classifier_holds_the_parts_over_the_full_label_space(toy_taxonomy: Taxonomy, heads: Heads) -> None:
    hybrid = fit_hybrid(heads, EncodedCorpus(pd.DataFrame(), np.zeros((0, DIM)), pd.DataFrame(), np.zeros((0, DIM))))
    classifier = assemble_classifier(StandInEncoder(), toy_taxonomy, heads, hybrid, ModelSettings())
    assert classifier.codes == list(KEYWORDS.values()) and classifier.metadata == {}
    assert (classifier.logistic, classifier.index, classifier.profile) == (heads.logistic, heads.index, heads.profile)
    assert classifier.predict("Night Nurse Aide", "", top_k=1)[0].code == KEYWORDS["nurse"]


def _classifier(toy_taxonomy: Taxonomy, data: EncodedCorpus, heads: Heads, config: TrainConfig) -> JobClassifier:
    hybrid = fit_hybrid(heads, data)
    return assemble_classifier(StandInEncoder(), toy_taxonomy, heads, hybrid, initial_settings(config, heads, hybrid, data))


def test_calibrate_fits_the_posting_settings_and_leaves_the_classifier_alone(
    toy_taxonomy: Taxonomy, corpus: pd.DataFrame, data: EncodedCorpus, heads: Heads, config: TrainConfig
) -> None:
    classifier = _classifier(toy_taxonomy, data, heads, config)
    before = copy.deepcopy(classifier.settings)
    calibrated, record = calibrate(classifier, config, corpus, toy_taxonomy)
    assert record == {} and classifier.settings == before, "a new classifier; the given one is unchanged"
    assert calibrated.settings.body_weight in calibration.BODY_WEIGHT_GRID
    assert 0.1 <= calibrated.settings.body_logit_scale <= 10.0
    assert calibrated.settings.review_threshold == before.review_threshold  # fitted on validation titles
    assert calibrated.hybrid is classifier.hybrid and calibrated.encoder is classifier.encoder

    unfitted, _ = calibrate(classifier, dataclasses.replace(config, fit_body_weight=False), corpus, toy_taxonomy)
    assert unfitted.settings == before


def test_calibrate_takes_the_review_threshold_from_the_real_postings(
    toy_taxonomy: Taxonomy, corpus: pd.DataFrame, data: EncodedCorpus, heads: Heads, config: TrainConfig, monkeypatch
) -> None:
    seen = {}

    def review(classifier, tax):
        seen["body_weight"] = classifier.settings.body_weight
        return {"benchmark": "real-postings", "threshold_all": 0.42, "precision": 0.9}

    monkeypatch.setattr(calibration, "fit_review_on_real_postings", review)
    config = dataclasses.replace(config, review_threshold_from="real-postings", fit_body_weight=False, body_weight=0.25)
    calibrated, record = calibrate(_classifier(toy_taxonomy, data, heads, config), config, corpus, toy_taxonomy)
    assert calibrated.settings.review_threshold == 0.42 and record["review"]["threshold_all"] == 0.42
    assert seen["body_weight"] == 0.25, "read with the settings calibrated so far"


# -- the record -----------------------------------------------------------------------------------
def test_model_metadata_names_the_version_and_records_the_provenance(
    config: TrainConfig, corpus: pd.DataFrame, heads: Heads, data: EncodedCorpus, monkeypatch
) -> None:
    monkeypatch.setattr(train_module, "library_versions", lambda: {"jobclass": "test"})
    hybrid = fit_hybrid(heads, data)
    created = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    meta = model_metadata(config, corpus, {"train_loss": 1.0}, hybrid, created)
    assert meta["version"].startswith("20240102T030405Z-tiny-") and len(meta["version"].split("-")[-1]) == 8
    assert meta["training_corpus_hash"][7:15] == meta["version"].split("-")[-1]
    assert meta["created_at"] == created.isoformat() and meta["recipe"] == "tiny"
    assert meta["base_encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["train_config"]["finetune_sources"] == list(config.finetune_sources)  # tuples as lists (JSON)
    sizes = corpus["split"].value_counts()
    assert meta["training_corpus_size"] == {"train": sizes["train"], "validation": sizes["validation"]}
    assert meta["finetune"] == {"train_loss": 1.0} and meta["hybrid_weights"] == hybrid.weights.tolist()
    assert meta["extra_titles"] == {} and meta["versions"] == {"jobclass": "test"}
    json.dumps(meta)
    assert model_metadata(config, corpus, {}, hybrid, created)["version"] == meta["version"]


def test_evaluate_scores_each_benchmark_on_a_fixed_subsample(toy_taxonomy: Taxonomy, monkeypatch) -> None:
    frame = pd.DataFrame({"title": [f"t{i}" for i in range(50)], "body": "", "code": "11-1011.00"})
    monkeypatch.setattr(train_module, "load_benchmark", lambda name, tax: make_benchmark(name, frame))
    monkeypatch.setattr(train_module, "evaluate_classifier", lambda clf, bench: {"titles": bench.frame["title"].tolist()})
    metrics = evaluate(None, ("a", "b"), toy_taxonomy, limit=10)
    assert list(metrics) == ["a", "b"] and len(metrics["a"]["titles"]) == 10
    assert metrics["a"] == metrics["b"], "the same rows each time"
    assert len(evaluate(None, ("a",), toy_taxonomy)["a"]["titles"]) == 50


def test_step_timer_records_each_step_and_the_total() -> None:
    timer = StepTimer("test")
    with timer("one"):
        pass
    with timer("two"):
        pass
    timings = timer.timings()
    assert list(timings) == ["one", "two", "total"] and all(v >= 0 for v in timings.values())


# -- the sequence ---------------------------------------------------------------------------------
def test_train_model_runs_the_steps_in_order(config: TrainConfig, toy_taxonomy: Taxonomy, monkeypatch) -> None:
    monkeypatch.setattr(train_module, "library_versions", lambda: {"jobclass": "test"})
    encoder = StandInEncoder()
    classifier = train_model(config, toy_taxonomy, encoder=encoder)
    meta = classifier.metadata
    assert classifier.encoder is encoder and meta["finetune"] == {}
    assert list(meta["timings_s"]) == ["corpus", "load encoder", "encode corpus", "heads", "calibrate", "evaluate", "total"]
    assert meta["prior_correction"] in PRIOR_CORRECTION_GRID and meta["index_count_penalty"] in INDEX_COUNT_PENALTY_GRID
    assert classifier.index.count_penalty == meta["index_count_penalty"]
    assert meta["hybrid_weights"] == classifier.hybrid.weights.tolist() != list(INITIAL_HYBRID_WEIGHTS)
    assert "review" not in meta and 0.0 < classifier.settings.review_threshold <= 1.0
    assert classifier.settings.body_weight in calibration.BODY_WEIGHT_GRID
    assert meta["benchmark_hash"] == meta["metrics"]["reported-titles"]["benchmark_hash"]
    assert meta["metrics"]["reported-titles"]["acc@1"] > 0.9
    assert meta["version"].split("-")[1] == "tiny"
    for word, code in KEYWORDS.items():
        assert classifier.predict(f"{word} supervisor", "", top_k=1)[0].code == code


# -- on the tiny real model (the session's fixture) ------------------------------------------------
def test_posting_calibration_fits_weight_and_temperature(tiny_classifier, taxonomy):
    from scipy.special import log_softmax

    from jobclass.evaluation.composed import compose_postings
    from jobclass.evaluation.scoring import benchmark_labels
    from jobclass.training.calibration import BODY_WEIGHT_GRID, fit_posting_calibration

    tasks = taxonomy.tasks.groupby("code").head(3)
    codes = tasks["code"].drop_duplicates().iloc[:40]
    tasks = tasks[tasks["code"].isin(codes)]
    titles = taxonomy.occupations.set_index("code").loc[codes, "title"]
    postings = compose_postings("test-postings", titles, pd.Series(tasks["task"].to_numpy(), index=tasks["code"]))
    weight, scale = fit_posting_calibration(tiny_classifier, postings)
    assert weight in BODY_WEIGHT_GRID and 0.1 <= scale <= 10.0

    fitted = copy.copy(tiny_classifier)
    fitted.settings = dataclasses.replace(tiny_classifier.settings, body_weight=weight)
    Q, has_body = fitted.queries(postings.frame["title"].tolist(), postings.frame["body"].tolist())
    assert has_body.all()
    y = benchmark_labels(postings, fitted.codes)
    logits = fitted.hybrid.logits(fitted.features(Q))
    nll = lambda s: -log_softmax(s * logits, axis=1)[np.arange(len(y)), y].mean()  # noqa: E731
    assert nll(scale) <= nll(1.0) + 1e-6


def test_prior_correction_is_fitted_for_balanced_validation():
    from jobclass.model.heads import LogisticHead, label_log_prior
    from jobclass.training.fit_heads import fit_prior_correction

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    def sample(counts):
        y = np.repeat(np.arange(3), counts)
        return (centres[y] + rng.normal(scale=0.8, size=(len(y), 2))).astype(np.float32), y

    X, y = sample([600, 60, 60])  # skewed, as O*NET's title counts are
    X_val, y_val = sample([200, 200, 200])
    head = LogisticHead.fit(X, y, 3)
    strength = fit_prior_correction(head, X_val, y_val, [], label_log_prior(y, 3))
    assert strength in PRIOR_CORRECTION_GRID and strength > 0

    def balanced_accuracy(h):
        hits = h.log_proba(X_val).argmax(1) == y_val
        return np.mean([hits[y_val == k].mean() for k in range(3)])

    assert balanced_accuracy(head.prior_corrected(label_log_prior(y, 3), strength)) > balanced_accuracy(head)


def test_training_records_the_prior_corrections(tiny_classifier):
    assert tiny_classifier.metadata["prior_correction"] in PRIOR_CORRECTION_GRID
    assert tiny_classifier.metadata["index_count_penalty"] in INDEX_COUNT_PENALTY_GRID
    assert tiny_classifier.index.count_penalty == pytest.approx(tiny_classifier.metadata["index_count_penalty"])
