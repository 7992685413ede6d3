"""What the review page shows without a browser (issue 18): the sentences the model read, the
occupation search, score bands, a coder's cell, and which prediction run an Airflow run made."""

from __future__ import annotations

import pytest
from review_fixtures import NEW_RUN, OLD_RUN, seed_review_queue

from jobclass.model.cleaning import DUTY_SENTENCE_SCORE, select_body_sentences, select_body_words
from jobclass.pipeline.review import (
    marked_body,
    occupations,
    parse_code,
    score_band,
    search_occupations,
    suggested_rank,
)

BODY = (
    "Our agency serves the public. You will prepare tax returns for clients. Reviews financial records. "
    "The salary is competitive, see jobs@example.gov."
)


def test_the_sentences_read_are_those_the_model_takes_its_words_from():
    sentences = select_body_sentences(BODY, 80, DUTY_SENTENCE_SCORE)
    assert sentences == ["You will prepare tax returns for clients.", "Reviews financial records."]
    from_sentences = [w for s in sentences for w in select_body_words(s, 80, DUTY_SENTENCE_SCORE)]
    assert from_sentences == select_body_words(BODY, 80, DUTY_SENTENCE_SCORE)
    assert len(select_body_sentences(BODY, 3, DUTY_SENTENCE_SCORE)) == 1  # the word budget holds


def test_the_body_is_marked_where_the_model_reads_it():
    segments = marked_body("Tax Examiner", BODY)
    assert "".join(text for text, _ in segments).startswith("Our agency serves the public. You will prepare")
    assert [text for text, read in segments if read] == [
        "You will prepare tax returns for clients.",
        "Reviews financial records.",
    ]
    # A title field that holds no title: every sentence is read.
    untitled = marked_body("We are hiring now and you should apply today!", BODY)
    assert [text for text, read in untitled if read][0] == "Our agency serves the public."
    assert marked_body("Nurse", None) == []


def test_occupation_search_by_code_and_by_title():
    assert len(occupations()) == 1016
    assert [o.code for o in search_occupations("29-1141.0")] == ["29-1141.00", "29-1141.01", "29-1141.02", "29-1141.03", "29-1141.04"]
    nurses = search_occupations("registered nurse")
    assert nurses[0].code == "29-1141.00" and nurses[0].title == "Registered Nurses"
    assert search_occupations("developers")[0].title.endswith("Developers")  # a word of the title
    assert len(search_occupations("a", limit=7)) == 7
    assert search_occupations("   ") == [] and search_occupations("zzqx") == []


def test_score_bands_and_cells():
    assert score_band(None) == (None, None) and score_band("0.2-0.4") == (0.2, 0.4)
    with pytest.raises(ValueError, match="score band"):
        score_band("0.1-0.9")
    assert parse_code(" 29-1141.00 ") == ("coded", "29-1141.00")
    assert parse_code("Not codable") == ("not_codable", "") and parse_code("") is None
    with pytest.raises(ValueError, match="unknown O\\*NET-SOC code '29-1141'"):
        parse_code("29-1141")
    shown = [{"rank": 1, "onet_code": "a"}, {"rank": 2, "onet_code": "b"}]
    assert suggested_rank(shown, "b") == 2 and suggested_rank(shown, "c") is None


def test_an_airflow_run_maps_to_the_newest_prediction_run_of_its_interval(engine, taxonomy, monkeypatch):
    """The mapping both tabs share (jobclass.airflow.api.dag_runs): the DAG run's interval (its
    resolve_interval XCom, else its data interval), then that interval's newest prediction run."""
    from jobclass.airflow.api import dag_runs

    seed_review_queue(engine, taxonomy)
    intervals = {
        "scheduled": {"start": "2026-12-01T02:00:00Z", "end": "2026-12-02T02:00:00Z"},
        "manual": {"start": "2026-11-30T02:00:00+00:00", "end": "2026-12-01T02:00:00+00:00"},
        "queued": None,
    }
    monkeypatch.setattr(dag_runs, "dag_run_interval", lambda dag_id, run_id: intervals[run_id])
    assert dag_runs.prediction_run_of(engine, "jobclass_nightly_classify", "scheduled") == NEW_RUN
    assert dag_runs.prediction_run_of(engine, "jobclass_nightly_classify", "manual") == OLD_RUN
    assert dag_runs.prediction_run_of(engine, "jobclass_nightly_classify", "queued") is None


def test_the_predictions_page_searches_every_stored_posting(engine, taxonomy):
    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app

    seed_review_queue(engine, taxonomy)
    client = TestClient(create_app(engine_factory=lambda: engine, bundle_loader=lambda path: None, auth=None))
    page = client.get("/predictions", params={"q": "welder"})
    assert page.status_code == 200
    assert 'data-posting-id="n3"' in page.text and 'data-posting-id="n1"' not in page.text
    assert "51-4121.00" in page.text and 'action="predictions"' in page.text  # its top-5, and the form stays here
    assert 'data-posting-id="n3"' not in client.get("/review").text  # not flagged: not in the review queue
    assert client.get("/predictions", params={"band": "nonsense"}).status_code == 422
