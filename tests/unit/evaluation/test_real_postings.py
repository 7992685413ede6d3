"""The real-postings benchmark, lenient accuracy, and postings whose title field holds no title."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobclass.evaluation.benchmark import make_benchmark
from jobclass.evaluation.real_postings import FROZEN_HASH, UNTITLED_PERCENT, read_labels
from jobclass.evaluation.scoring import evaluate_parts, evaluate_probabilities
from jobclass.evaluation.sets import BENCHMARK_NAMES, load_benchmark
from jobclass.model.cleaning import is_usable_title


@pytest.fixture(scope="module")
def real(taxonomy):
    return load_benchmark("real-postings", taxonomy)


def test_real_postings_is_frozen_and_complete(real, taxonomy):
    assert "real-postings" in BENCHMARK_NAMES
    assert len(real) >= 300
    assert real.content_hash == FROZEN_HASH, "labels or postings changed: bump FROZEN_HASH deliberately"
    assert real.frame["code"].isin(taxonomy.codes).all()
    assert real.frame["posting_id"].is_unique
    assert set(real.frame["confidence"]) <= {"high", "medium", "low"}
    also = real.frame["also_ok"].str.split(";").explode().str.strip()
    assert also[also != ""].isin(taxonomy.codes).all()
    assert (real.frame["also_ok"].str.count(";") <= 1).all()  # two also-defensible codes at most


def test_a_share_of_postings_arrives_without_a_title(real):
    untitled = real.frame[real.frame["form"] == "untitled"]
    share = len(untitled) / len(real)
    assert UNTITLED_PERCENT / 100 - 0.05 < share < UNTITLED_PERCENT / 100 + 0.05
    # Each untitled row carries its body's first sentence where the title should be.
    for title, body in zip(untitled["title"], untitled["body"]):
        assert title and title in body.replace("\n", " ") or title.split()[0] in body


def test_the_detector_tells_sentences_from_titles(real, taxonomy):
    untitled = real.frame[real.frame["form"] == "untitled"]
    assert not any(is_usable_title(t) for t in untitled["title"])
    titled = real.frame[real.frame["form"] == "titled"]
    assert np.mean([is_usable_title(t) for t in titled["title"]]) > 0.99
    assert all(map(is_usable_title, taxonomy.reported_titles["reported_title"]))


@pytest.mark.parametrize(
    "text",
    [
        "We are a leading provider of logistics services across the region.",
        "Work Schedule:",
        "This position is located in the National Supply Service Center (NSSC), located in Oklahoma City, OK.",
        "Are you passionate about making a difference in the lives of children?",
        "",
    ],
)
def test_sentences_slogans_and_headings_are_not_titles(text):
    assert not is_usable_title(text)


@pytest.mark.parametrize(
    "text",
    ["IT Specialist (INFOSEC)", "Sr. Accountant | Hybrid | Chicago, IL", "The Registered Nurse - ICU", "Position Classification Specialist"],
)
def test_titles_stay_titles(text):
    assert is_usable_title(text)


def test_labels_refuse_duplicates(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame(
        {c: ["x", "x"] for c in ["posting_id", "code", "also_ok", "confidence", "coder", "note"]}
    ).to_csv(path, index=False)
    with pytest.raises(ValueError, match="duplicate"):
        read_labels(path)


def test_lenient_accuracy_counts_also_defensible_codes():
    codes = ["11-1011.00", "13-1111.00", "15-1252.00"]
    frame = pd.DataFrame(
        {
            "title": ["a", "b", "c"],
            "body": ["", "", ""],
            "code": ["13-1111.00", "13-1111.00", "15-1252.00"],
            "also_ok": ["11-1011.00", "", ""],
            "form": ["titled", "titled", "untitled"],
        }
    )
    bench = make_benchmark("toy", frame)
    probs = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    metrics = evaluate_probabilities(probs, bench, codes)
    assert metrics["acc@1"] == pytest.approx(1 / 3)
    assert metrics["lenient_acc@1"] == pytest.approx(2 / 3)
    parts = evaluate_parts(probs, bench, codes, "form")
    assert parts["untitled"]["acc@1"] == 1.0 and parts["titled"]["acc@1"] == 0.0


def test_a_benchmark_without_also_ok_keeps_its_hash():
    frame = pd.DataFrame({"title": ["a"], "body": [""], "code": ["11-1011.00"]})
    assert make_benchmark("x", frame).content_hash == make_benchmark("x", frame.assign(form="titled")).content_hash


def test_an_untitled_posting_is_read_from_its_whole_body(tiny_classifier):
    body = "We are a growing company. Prepare tax returns for clients. Our office is downtown."
    titles, composed = tiny_classifier.encoder_inputs(["We are hiring in Springfield!", "Tax Preparer"], [body, body])
    assert titles[0] == "" and "company" in composed[0] and "tax returns" in composed[0]
    assert titles[1] == "tax preparer" and "company" not in composed[1]  # a titled posting reads duty sentences only


def test_the_stream_file_codes_every_other_vendored_posting_under_the_same_rules(taxonomy):
    from jobclass.evaluation.real_postings import LABELS_PATH, NOT_CODABLE, STREAM_LABELS_PATH, benchmark_posting_ids
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.postings.files import read_postings_file

    frozen, stream = read_labels(LABELS_PATH), read_labels(STREAM_LABELS_PATH)
    assert len(frozen) == 342 and len(stream) == 451
    assert set(frozen["posting_id"]).isdisjoint(stream["posting_id"])
    assert benchmark_posting_ids() == {r["id"] for r in read_postings_file(DEMO_POSTINGS)}
    for labels in (frozen, stream):
        assert labels["code"].isin([*taxonomy.codes, NOT_CODABLE]).all()
        for row in labels.itertuples(index=False):
            assert row.note, row.posting_id  # every row says why
            for also in filter(None, row.also_ok.split(";")):
                assert also in taxonomy.codes
                # In the frozen benchmark, an also_ok code in another major group names its reason.
                if labels is frozen and row.code != NOT_CODABLE and also[:2] != row.code[:2]:
                    assert also in row.note or "other major group" in row.note, row.posting_id
            if row.code == NOT_CODABLE:
                assert not row.also_ok, row.posting_id


def test_the_second_coders_agree_with_the_first(taxonomy):
    """The agreement the issue's precision target stands on (README of real_postings)."""
    from jobclass.evaluation.real_postings import LABELS_PATH, RESOURCES_DIR, STREAM_LABELS_PATH

    folder = RESOURCES_DIR / "real_postings"
    for first_path, second_name, at_least in ((LABELS_PATH, "second_coding.csv", 0.8), (STREAM_LABELS_PATH, "second_coding_stream.csv", 0.85)):
        first = read_labels(first_path).set_index("posting_id")
        second = read_labels(folder / second_name).set_index("posting_id")
        assert len(second) == 60 and second.index.isin(first.index).all()
        exact = np.mean([first.loc[p, "code"] == row.code for p, row in second.iterrows()])
        assert exact >= at_least
