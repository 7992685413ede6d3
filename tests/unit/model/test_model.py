"""A tiny real model, trained end to end: predictions, bundle round trip, reachability, CLI."""

import copy
import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from jobclass.cli import main
from jobclass.columns import PREDICTION_COLUMNS
from jobclass.model.bundle import BundleError, load_bundle, verify_bundle

POSTINGS = pd.DataFrame(
    {
        "posting_id": ["p1", "p2", "p3", "p4"],
        "title": ["Registered Nurse - ICU", "Senior Software Engineer", "CDL Truck Driver", "Line Cook"],
        "body": ["Provide patient care. Monitor vital signs.", "Build web services in Python.", "", None],
    }
)


def test_tiny_training_records_its_provenance(tiny_classifier):
    meta = tiny_classifier.metadata
    assert meta["recipe"] == "tiny"
    assert meta["training_corpus_hash"].startswith("sha256:")
    assert meta["benchmark_hash"] == meta["metrics"]["reported-titles"]["benchmark_hash"]
    assert {"torch", "sentence_transformers", "scikit_learn"} <= set(meta["versions"])
    assert meta["finetune"]["train_steps"] == 4
    for metric in ("acc@1", "acc@5", "acc@10", "mrr@10", "ndcg@10", "precision@5", "recall@5", "soc6_acc@1", "major_acc@1"):
        assert 0.0 <= meta["metrics"]["reported-titles"][metric] <= 1.0


def test_predict_ranks_codes_with_scores(tiny_classifier):
    ranked = tiny_classifier.predict("Registered Nurse - ICU", "Provide patient care in the intensive care unit.", top_k=5)
    assert [p.rank for p in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0].major_group == "29"
    scores = [p.score for p in ranked]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert len({p.code for p in ranked}) == 5
    assert ranked[0].evidence  # an indexed title supports the answer


@pytest.mark.parametrize("top_k", [1, 7, 20])
def test_top_k_range(tiny_classifier, top_k):
    assert len(tiny_classifier.predict("Accountant", "", top_k=top_k)) == top_k


@pytest.mark.parametrize("top_k", [0, 21, -1])
def test_top_k_out_of_range_is_refused(tiny_classifier, top_k):
    with pytest.raises(ValueError, match="top_k"):
        tiny_classifier.predict("Accountant", "", top_k=top_k)


def test_predict_frame_is_long_with_backoff_and_evidence(tiny_classifier):
    frame = tiny_classifier.predict_frame(POSTINGS, top_k=3)
    assert list(frame.columns) == PREDICTION_COLUMNS
    assert len(frame) == 12 and not frame.duplicated(["posting_id", "rank"]).any()
    assert (frame["soc6_code"] == frame["onet_code"].str[:7]).all()
    assert (frame["major_group"] == frame["onet_code"].str[:2]).all()
    assert (frame["soc6_score"] >= frame["score"] - 1e-6).all()
    assert (frame["major_group_score"] >= frame["soc6_score"] - 1e-6).all()
    assert frame["backoff_level"].isin(["detailed", "soc6", "major_group"]).all()
    assert frame["evidence"].str.len().gt(0).all()
    top = frame[frame["rank"] == 1]
    assert (top["needs_review"] == (top["score"] < tiny_classifier.settings.review_threshold)).all()


def test_batch_and_single_predictions_agree(tiny_classifier):
    frame = tiny_classifier.predict_frame(POSTINGS.iloc[:1], top_k=5)
    single = tiny_classifier.predict(POSTINGS.title[0], POSTINGS.body[0], top_k=5)
    assert frame["onet_code"].tolist() == [p.code for p in single]
    np.testing.assert_allclose(frame["score"], [p.score for p in single], rtol=1e-6)


def test_bundle_round_trip_is_byte_identical(tiny_classifier, tiny_bundle_path):
    reloaded = load_bundle(tiny_bundle_path)
    a = tiny_classifier.predict_frame(POSTINGS, top_k=5)
    b = reloaded.predict_frame(POSTINGS, top_k=5)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    meta = json.loads((tiny_bundle_path / "metadata.json").read_text())
    assert {"version", "versions", "training_corpus_hash", "metrics", "benchmark_hash", "files"} <= set(meta)
    assert not list(tiny_bundle_path.rglob("*.pkl")) and not list(tiny_bundle_path.rglob("*.pickle"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: (p / "heads.safetensors").write_bytes(b"garbage"),
        lambda p: (p / "heads.safetensors").unlink(),
        lambda p: (p / "labels.csv").write_text("code,title\n"),
        lambda p: shutil.rmtree(p / "encoder"),
        lambda p: (p / "metadata.json").write_text("{not json"),
    ],
    ids=["corrupt-heads", "missing-heads", "edited-labels", "missing-encoder", "corrupt-metadata"],
)
def test_damaged_bundle_is_refused(tiny_bundle_path, tmp_path, damage):
    copy_path = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_path, copy_path)
    damage(copy_path)
    with pytest.raises(BundleError):
        verify_bundle(copy_path)
    with pytest.raises(BundleError):
        load_bundle(copy_path)


def test_every_official_title_reaches_its_code(tiny_classifier, taxonomy):
    """Acceptance: each occupation's own title puts it in the top 5 for >= 98% of codes."""
    occ = taxonomy.occupations
    Q = tiny_classifier.embed(occ["title"].tolist(), [""] * len(occ))
    probs = tiny_classifier.proba(Q)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    hit = (top5 == np.arange(len(occ))[:, None]).any(axis=1)
    assert hit.mean() >= 0.98


def test_a_code_the_regression_never_saw_stays_reachable(tiny_classifier, taxonomy):
    code = "15-1252.00"
    label = taxonomy.index_of[code]
    blind = copy.copy(tiny_classifier)
    blind.logistic = copy.deepcopy(tiny_classifier.logistic)
    blind.logistic.seen[label] = 0
    logp = blind.logistic.log_proba(blind.embed(["Software Developers"], [""]))[0]
    assert logp[label] == pytest.approx(np.median(np.delete(logp, label)))
    assert code in [p.code for p in blind.predict("Software Developers", "", top_k=5)]


def test_cli_predict_prints_ranked_codes(tiny_bundle_path, capsys):
    code = main(["predict", "--model", str(tiny_bundle_path), "--title", "Registered Nurse - ICU", "--body", "Care for patients.", "--top-k", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "29-" in out and "score" in out and "Top-1" in out


def test_cli_predict_without_a_model_says_what_to_run(capsys):
    assert main(["predict", "--title", "Nurse"]) == 2
    assert "jobclass train" in capsys.readouterr().err


def test_posting_temperature_sharpens_only_rows_with_a_body(tiny_classifier):
    sharper = copy.copy(tiny_classifier)
    sharper.settings = dataclasses.replace(tiny_classifier.settings, body_logit_scale=2.0)
    base = tiny_classifier.predict_frame(POSTINGS, top_k=3).set_index(["posting_id", "rank"])
    sharp = sharper.predict_frame(POSTINGS, top_k=3).set_index(["posting_id", "rank"])
    assert (base["onet_code"] == sharp["onet_code"]).all()  # a temperature never reorders
    titles_only = ["p3", "p4"]  # empty and missing bodies
    np.testing.assert_allclose(sharp.loc[titles_only, "score"], base.loc[titles_only, "score"], rtol=1e-6)
    for posting in ("p1", "p2"):
        assert sharp.loc[(posting, 1), "score"] > base.loc[(posting, 1), "score"]



def test_prior_correction_takes_the_training_prior_out():
    from jobclass.model.heads import LogisticHead, label_log_prior

    y = np.array([0] * 80 + [1] * 15 + [2] * 5)
    log_prior = label_log_prior(y, 4)  # label 3 never seen
    seen = np.array([1, 1, 1, 0], np.uint8)
    head = LogisticHead(coef=np.zeros((4, 2), np.float32), intercept=log_prior.astype(np.float32), seen=seen)
    X = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(head.prior_corrected(log_prior, 0.0).log_proba(X), head.log_proba(X), rtol=1e-6)
    balanced = head.prior_corrected(log_prior, 1.0).log_proba(X)
    np.testing.assert_allclose(balanced[:, :3], np.log(1 / 3), rtol=1e-5)  # the seen labels are equal now




def test_index_count_penalty_offsets_labels_with_many_entries():
    from jobclass.model.heads import SemanticIndex

    q = np.array([[1.0, 0.0]], np.float32)
    vectors = np.array([[0.8, 0.6]] * 9 + [[0.8, -0.6]], np.float32)  # label 0: 9 entries, label 1: one
    index = SemanticIndex.build(vectors, np.array([0] * 9 + [1]), [f"t{i}" for i in range(10)], n_labels=3)
    np.testing.assert_allclose(index.label_scores(q), [[0.8, 0.8, -1.0]], rtol=1e-6)
    penalised = dataclasses.replace(index, count_penalty=0.05)
    scores = penalised.label_scores(q)[0]
    np.testing.assert_allclose(scores, [0.8 - 0.05 * np.log(10), 0.8 - 0.05 * np.log(2), -1.0], rtol=1e-6)
    assert penalised.nearest_entry(q[0], 0) == index.nearest_entry(q[0], 0)  # evidence stays a cosine


def test_a_body_without_duty_sentences_leaves_the_posting_to_its_title(tiny_classifier):
    frame = pd.DataFrame(
        {
            "posting_id": ["agency-blurb", "no-body"],
            "title": ["Program Analyst"] * 2,
            "body": ["Click the button to view eligibilities. The office serves veterans nationwide.", ""],
        }
    )
    _, has_body = tiny_classifier.queries(frame["title"].tolist(), frame["body"].tolist())
    assert not has_body.any()
    out = tiny_classifier.predict_frame(frame, top_k=3)
    blurb, bare = (out[out["posting_id"] == p].reset_index(drop=True) for p in ("agency-blurb", "no-body"))
    assert blurb["onet_code"].tolist() == bare["onet_code"].tolist()
    np.testing.assert_allclose(blurb["score"], bare["score"], rtol=1e-6)


def test_a_bundle_saved_before_the_duty_gate_reads_every_body_sentence(tiny_bundle_path, tmp_path):
    from jobclass.model.cleaning import DUTY_SENTENCE_SCORE

    assert load_bundle(tiny_bundle_path).settings.min_duty_score == DUTY_SENTENCE_SCORE
    old = tmp_path / "old-bundle"
    shutil.copytree(tiny_bundle_path, old)
    metadata = json.loads((old / "metadata.json").read_text())
    del metadata["settings"]["min_duty_score"]
    (old / "metadata.json").write_text(json.dumps(metadata))
    assert load_bundle(old).settings.min_duty_score == 0.0
