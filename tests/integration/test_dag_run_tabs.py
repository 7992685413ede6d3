"""From an Airflow DAG run to its prediction run, on real Airflow metadata: real ``dag.test()`` runs of
the nightly (one with a logical date, one without), then the DAG-run tabs
of the plugin ("Run report", "Review this run", "Predictions of this run"), each opened at the href
the UI builds from ``external_views``, resolve to the run that DAG run made (jobclass.airflow.api.dag_runs).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
import sqlalchemy as sa
from airflow_fixtures import airflow_db  # noqa: F401  (fixture)
from fastapi.testclient import TestClient
from test_dags import (  # noqa: F401  (fixtures and helpers of the nightly's dag.test() runs)
    INTERVAL_START,
    LOGICAL_DATE,
    NIGHTLY,
    ONE_DB,
    _fresh_dag,
    _promote,
    _task_states,
    jobclass_env,
    nightly,
)

from jobclass.store.engine import to_utc

MANUAL_RUN_AFTER = LOGICAL_DATE + timedelta(hours=10)


def _load(engine, prefix: str, n: int, at) -> list[str]:
    from itertools import islice

    from jobclass.paths import DEMO_POSTINGS
    from jobclass.pipeline.ingest import load_records
    from jobclass.postings.files import read_postings_file

    records = [{**r, "id": f"{prefix}-{i}"} for i, r in enumerate(islice(read_postings_file(DEMO_POSTINGS), n))]
    load_records(engine, records, source="usajobs", ingested_at=at)
    return [r["id"] for r in records]


def _prediction_runs(engine) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT interval_start, interval_end, run_id FROM prediction_runs")).all()
    return {(start, end): run_id for start, end, run_id in rows}


def _postings_of(engine, run_id: str) -> set[str]:
    with engine.connect() as conn:
        query = sa.text("SELECT posting_id FROM predictions WHERE run_id = :r AND rank = 1")
        return set(conn.execute(query, {"r": run_id}).scalars())


def _tabs(dag_run_id: str) -> dict[str, str]:
    """The DAG-run tabs' URLs, as the UI builds them: the href with {DAG_ID} and {RUN_ID} filled in."""
    from jobclass.airflow.api.views import external_views

    tabs = {}
    for view in external_views("/jobclass"):
        if view["destination"] == "dag_run":
            href = view["href"].replace("{DAG_ID}", quote(NIGHTLY, safe="")).replace("{RUN_ID}", quote(dag_run_id, safe=""))
            tabs[view["name"]] = "/" + href.removeprefix("jobclass/")  # the app is mounted at /jobclass
    return tabs


def _shown_postings(html: str) -> tuple[set[str], set[str]]:
    """(posting ids, prediction run ids) of the cards on a review or predictions page."""
    return set(re.findall(r'data-posting-id="([^"]+)"', html)), set(re.findall(r"· run ([^ ]+) ·", html))


@pytest.mark.parametrize("database_url", [ONE_DB], indirect=True)
def test_the_dag_run_tabs_resolve_to_the_run_each_dag_test_made(nightly, jobclass_env, tiny_bundle_path):  # noqa: F811
    from jobclass.airflow.api.app import create_app
    from jobclass.airflow.api.dag_runs import dag_run_interval, prediction_run_of

    engine = jobclass_env
    _promote(engine, tiny_bundle_path, "tiny-champion")
    scheduled_postings = _load(engine, "scheduled", 4, INTERVAL_START + timedelta(hours=3))
    scheduled = nightly.test(logical_date=LOGICAL_DATE, run_conf={"top_k": 2})
    assert str(scheduled.state) == "success", _task_states(scheduled)
    manual_postings = _load(engine, "manual", 3, LOGICAL_DATE + timedelta(hours=1))
    manual = _fresh_dag(NIGHTLY).test(logical_date=None, run_after=MANUAL_RUN_AFTER, run_conf={"top_k": 2})
    assert str(manual.state) == "success", _task_states(manual)

    runs = _prediction_runs(engine)
    assert len(runs) == 2
    # The interval each DAG run coded, read from Airflow's metadata: the scheduled run's data
    # interval, the manual run's from the end of the last success to its run_after.
    expected = {
        scheduled.run_id: (INTERVAL_START, LOGICAL_DATE, scheduled_postings),
        manual.run_id: (LOGICAL_DATE, MANUAL_RUN_AFTER, manual_postings),
    }
    assert manual.data_interval_start is None  # resolved by its resolve_interval task, not by Airflow
    assert dag_run_interval(NIGHTLY, "no-such-run") is None

    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as client:
        for dag_run_id, (start, end, postings) in expected.items():
            interval = dag_run_interval(NIGHTLY, dag_run_id)
            assert (to_utc(interval["start"]), to_utc(interval["end"])) == (start, end), dag_run_id
            [run_id] = [r for (s, e), r in runs.items() if (to_utc(s), to_utc(e)) == (start, end)]
            assert prediction_run_of(engine, NIGHTLY, dag_run_id) == run_id
            assert _postings_of(engine, run_id) == set(postings)
            tabs = _tabs(dag_run_id)

            report = client.get(tabs["Run report"])
            assert report.status_code == 200, report.text
            assert f"<dd>{run_id}</dd>" in report.text and f"Airflow run {NIGHTLY} / {dag_run_id}" in report.text
            assert len(re.findall(r"<svg", report.text)) == 3

            review = client.get(tabs["Review this run"])
            assert review.status_code == 200, review.text
            assert f"The postings of the Airflow run {dag_run_id}." in review.text
            shown, shown_runs = _shown_postings(review.text)
            assert shown <= set(postings) and shown_runs <= {run_id}

            listed = client.get(tabs["Predictions of this run"])
            assert listed.status_code == 200, listed.text
            assert _shown_postings(listed.text) == (set(postings), {run_id})

        tabs = _tabs("no-such-run")
        assert "has not resolved its interval" in client.get(tabs["Run report"]).text
        assert "No prediction run found for the Airflow run no-such-run" in client.get(tabs["Review this run"]).text
