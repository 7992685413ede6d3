"""The nightly run report: the page through the plugin's FastAPI app, its DAG-run mapping, its
"Run report" tab, and the drift warning the nightly's ``finish`` step logs."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
from airflow_fixtures import airflow_db  # noqa: F401  (fixture)
from fastapi.testclient import TestClient
from run_report_fixtures import night, night_run

from jobclass.airflow.api import run_report as page

STABLE = [("15-1252.00", 0.85, False), ("15-1252.00", 0.75, False), ("29-1141.00", 0.65, True)]
SHIFTED = [("29-1141.00", 0.25, True), ("29-1141.00", 0.15, True), ("35-2014.00", 0.35, True), ("15-1252.00", 0.9, False)]


def _history(engine, nights: int = 5) -> str:
    """``nights`` stable nights, then a shifted one (returned) with two rejects."""
    for offset in range(-nights, 0):
        night_run(engine, offset, [(f"p{offset}-{i}", code, s, r) for i, (code, s, r) in enumerate(STABLE)])
    rows = [(f"now-{i}", code, s, r) for i, (code, s, r) in enumerate(SHIFTED)]
    return night_run(engine, 0, rows, rejects=[("bad-1", "empty_text"), ("bad-2", "empty_text")])


@pytest.fixture
def client(engine):
    from jobclass.airflow.api.app import create_app

    app = create_app(engine_factory=lambda: engine, bundle_loader=lambda path: None, auth=None)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, re.S)]


def test_the_report_of_a_drifted_run(client, engine):
    run_id = _history(engine)
    response = client.get("/report", params={"run_id": run_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    tiles = dict(re.findall(r"<b>([^<]+)</b><span>([^<(]+)", html))
    assert {v.strip(): k for k, v in tiles.items()} == {
        "rows read": "6", "predicted": "4", "rejected": "2", "need review": "75.0%"
    }
    assert "(trailing 33.3%)" in html  # the baseline's review share
    assert "<td>empty_text</td><td>2</td>" in html
    assert "5 successful run(s) in the 28 nights before" in html
    assert html.count('class="warning"') == 2  # the major-group mix and the score distribution drifted
    assert "Drift:</b> the major-group mix" in html and "Drift:</b> the score distribution" in html
    assert "29-1141.00 Title 29-1141.00" in html and "35 Food Preparation and Serving Related" in html
    svgs = _svgs(html)
    assert len(svgs) == 3 and all(s.tag.endswith("svg") for s in svgs)
    assert html.count('id="scores-series-1-bar-') == 10  # the trailing nights' histogram: ten bins
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_a_first_run_has_no_baseline_and_no_drift(client, engine):
    run_id = night_run(engine, 0, [("a", "29-1141.00", 0.9, False)])
    html = client.get("/report", params={"run_id": run_id}).text
    assert 'class="warning"' not in html and html.count("no baseline") == 2
    assert html.count('id="scores-series-1') == 0 and len(_svgs(html)) == 3
    assert "None rejected." in html


def test_stored_text_is_escaped_and_scrubbed(client, engine):
    run_id = night_run(engine, 0, [("a", "29-1141.00", 0.9, False)], status="failed")
    from jobclass.store import runs

    detail = "<script>alert(1)</script> failed: OperationalError: at /srv/secret/path"
    counts = {"rows_read": 1, "rows_predicted": 1, "rows_rejected": 0}
    runs.record_run_outcome(engine, run_id, counts, {"status": "failed", "detail": detail, "finished_at": None,
                                                     "duration_s": None})
    html = client.get("/report", params={"run_id": run_id}).text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "/srv/secret/path" not in html


def test_unknown_runs_and_bad_queries(client):
    response = client.get("/report", params={"run_id": "2000-01-01/2000-01-02/x"})
    assert response.status_code == 200 and "No prediction run 2000-01-01/2000-01-02/x is recorded." in response.text
    assert client.get("/report").status_code == 422
    assert client.get("/report", params={"run_id": "x" * 401}).status_code == 422


def test_the_dag_run_tab_finds_the_run_of_its_interval(client, engine, monkeypatch):
    run_id = _history(engine)
    start, end = night(0)
    asked = []

    def interval(dag_id, dag_run_id):
        asked.append((dag_id, dag_run_id))
        return {"start": start, "end": end} if dag_run_id == "scheduled__2026-11-26T02:00:00+00:00" else None

    monkeypatch.setattr(page, "dag_run_interval", interval)
    html = client.get("/report/jobclass_nightly_classify/scheduled__2026-11-26T02%3A00%3A00%2B00%3A00").text
    assert asked == [("jobclass_nightly_classify", "scheduled__2026-11-26T02:00:00+00:00")]
    assert f"<dd>{run_id}</dd>" in html and len(_svgs(html)) == 3
    assert "Airflow run jobclass_nightly_classify / scheduled__2026-11-26T02:00:00+00:00" in html

    html = client.get("/report/jobclass_nightly_classify/manual__queued").text
    assert "has not resolved its interval" in html
    html = client.get("/report/jobclass_weekly_retrain/manual__1").text
    assert "Run reports are for the jobclass_nightly_classify DAG" in html and len(asked) == 2

    monkeypatch.setattr(page, "dag_run_interval", lambda *_: {"start": "2001-01-01", "end": "2001-01-02"})
    assert "No prediction run is recorded for this interval yet" in client.get("/report/jobclass_nightly_classify/x").text


def test_the_dag_run_interval_reads_airflows_metadata(airflow_db):  # noqa: F811
    assert page.dag_run_interval("jobclass_nightly_classify", "no-such-run") is None


def test_the_run_report_tab_is_a_relative_dag_run_view():
    from jobclass.airflow.api.views import external_views

    views = [v for v in external_views("/jobclass") if v["name"] == "Run report"]
    assert views == [
        {
            "name": "Run report",
            "href": "jobclass/report/{DAG_ID}/{RUN_ID}",
            "url_route": "jobclass-run-report",
            "destination": "dag_run",
        }
    ]


def test_finish_logs_drift_and_keeps_its_summary(engine, caplog):
    from jobclass.pipeline.nightly import finish

    run_id = _history(engine)
    start, end = night(0)
    with caplog.at_level(logging.WARNING, logger="jobclass.airflow"):
        summary = finish(engine, {"version": "m1"}, start, end, [{"chunk": 0}])
    assert summary["run_id"] == run_id and summary["status"] == "success"
    assert set(summary) == {"run_id", "model_version", "partition", "chunks", "chunks_skipped", "rows_read",
                            "predicted", "rejected", "status"}
    drift = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DRIFT")]
    assert len(drift) == 2 and "major-group mix" in drift[0] and "PSI" in drift[0]


def test_a_report_that_cannot_be_built_is_only_a_warning(engine, caplog, monkeypatch):
    from jobclass.pipeline import run_report

    def broken(*_):
        raise RuntimeError("database went away")

    monkeypatch.setattr(run_report, "build_run_report", broken)
    with caplog.at_level(logging.WARNING, logger="jobclass.airflow"):
        assert run_report.warn_on_drift(engine, "x") == []
    assert "Run report of x not computed" in caplog.text
