"""The nightly run report: the page through the plugin's FastAPI app, its DAG-run mapping, its
"Run report" tab, concurrent requests, the kept reports of finished runs, the report slots, and the
drift warning the nightly's ``finish`` step logs. The mapping on real Airflow metadata (a real
``dag.test`` run): tests/integration/test_dag_run_tabs.py."""

from __future__ import annotations

import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
import sqlalchemy as sa
from browser_fixtures import served
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
        "rows read": "6", "predicted": "4", "rejected": "2", "already coded by another run": "0", "need review": "75.0%"
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
                            "already_coded", "predicted", "rejected", "status"}
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


# --------------------------------------------------------------------------- concurrency, kept reports, slots


def _app(engine, **limits):
    from jobclass.airflow.api.app import create_app

    return create_app(engine_factory=lambda: engine, bundle_loader=lambda path: None, auth=None, **limits)


def _charts_of(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, re.S)


RC_WATCHED = ("svg.fonttype", "svg.hashsalt", "font.size", "axes.spines.top", "axes.spines.right")


def test_concurrent_requests_get_correct_identical_charts_built_once(engine):
    """Two requests for each of six runs at once, to the app served by uvicorn: each page has the charts
    the run's report has when built alone, each finished run's report is built once, and matplotlib's global settings are never
    touched meanwhile (another thread's chart would pick them up, or lose them)."""
    import matplotlib

    codes = [code for code, _, _ in STABLE + SHIFTED]
    for offset in range(-5, 1):  # six nights, each its own mix and scores
        rows = [(f"c{offset}-{i}", codes[(i * (offset + 7)) % len(codes)], round(0.05 + ((i - offset) % 10) / 10.5, 3),
                 i % 2 == 0) for i in range(4 + offset + 5)]
        night_run(engine, offset, rows)
    with engine.connect() as conn:
        run_ids = list(conn.execute(sa.text("SELECT run_id FROM prediction_runs ORDER BY run_id")).scalars())
    assert len(run_ids) == 6
    with TestClient(_app(engine, max_concurrent_reports=1)) as alone:
        reference = {r: _charts_of(alone.get("/report", params={"run_id": r}).text) for r in run_ids}
    assert len({tuple(charts) for charts in reference.values()}) == 6  # six different reports
    assert all(len(charts) == 3 for charts in reference.values())

    settings = {k: matplotlib.rcParams[k] for k in RC_WATCHED}
    changed: list[dict] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = {k: matplotlib.rcParams[k] for k in RC_WATCHED}
            if now != settings:
                changed.append(now)
            time.sleep(0.0005)

    requests = [r for r in run_ids for _ in range(2)]
    start = threading.Barrier(len(requests))
    pages: dict[int, tuple[int, str]] = {}
    app = _app(engine, max_concurrent_reports=len(requests))
    with served(app, "run-report-concurrency") as base:  # the real server: uvicorn, its event loop and threads

        def ask(index: int, run_id: str) -> None:
            start.wait(30)
            try:
                with urlopen(f"{base}/report?run_id={quote(run_id, safe='')}", timeout=120) as response:
                    pages[index] = (response.status, response.read().decode("utf-8"))
            except HTTPError as error:
                pages[index] = (error.code, error.read().decode("utf-8"))

        watcher = threading.Thread(target=watch)
        watcher.start()
        threads = [threading.Thread(target=ask, args=(i, r)) for i, r in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        stop.set()
        watcher.join()
    assert sorted(pages) == list(range(len(requests)))
    for index, run_id in enumerate(requests):
        status, html = pages[index]
        assert status == 200, html
        assert _charts_of(html) == reference[run_id], run_id
        assert f"<dd>{run_id}</dd>" in html
    assert app.state.jobclass.reports.builds == 6  # twelve requests, six finished runs: six builds
    assert changed == []


def test_a_finished_runs_report_is_kept_until_its_inputs_change(engine):
    from jobclass.store import runs

    run_id = _history(engine)
    app = _app(engine)
    reports = app.state.jobclass.reports
    with TestClient(app) as client:
        first = client.get("/report", params={"run_id": run_id}).text
        assert client.get("/report", params={"run_id": run_id}).text == first and reports.builds == 1
        assert "5 successful run(s) in the 28 nights before" in first

        night_run(engine, -6, [("late-1", "15-1252.00", 0.9, False)])  # a baseline night, loaded late
        second = client.get("/report", params={"run_id": run_id}).text
        assert reports.builds == 2 and "6 successful run(s) in the 28 nights before" in second

        start, end = night(0)  # the run itself re-run: running, its report is built for each request
        runs.record_run_started(
            engine,
            {"run_id": run_id, "interval_start": start, "interval_end": end, "model_version": "m1",
             "partition_date": start[:10], "chunks": 1, "started_at": end},
        )
        for _ in range(2):
            assert ">running</dd>" in client.get("/report", params={"run_id": run_id}).text
        assert reports.builds == 2  # not kept
        runs.record_run_outcome(
            engine, run_id, {"rows_read": 6, "rows_predicted": 4, "rows_rejected": 2},
            {"status": "success", "detail": None, "finished_at": end, "duration_s": 2.0},
        )
        third = client.get("/report", params={"run_id": run_id}).text
        assert reports.builds == 3 and client.get("/report", params={"run_id": run_id}).text == third


def test_report_builds_are_bounded_like_predictions(engine, monkeypatch):
    """One report slot and a 0.5 s limit: a build held past the limit is a 504 and keeps its slot, so
    another report is 503 busy meanwhile; the held build, once done, is kept and served."""
    from jobclass.pipeline import run_report

    real, gate = run_report.build_run_report, threading.Event()

    def held(engine, run_id):  # the real build, held like a slow query over a big night
        gate.wait(30)
        return real(engine, run_id)

    run_id = _history(engine)
    other = night_run(engine, 1, [("next-1", "15-1252.00", 0.9, False)])
    monkeypatch.setattr(run_report, "build_run_report", held)
    app = _app(engine, max_concurrent_reports=1, report_timeout_s=0.5)
    with TestClient(app, raise_server_exceptions=False) as client:
        slow = client.get("/report", params={"run_id": run_id})
        assert slow.status_code == 504 and "the run report took longer than 0.5 s" in slow.json()["detail"]
        busy = client.get("/report", params={"run_id": other})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.json()["detail"].startswith("busy: 1 run reports are running")
        gate.set()
        deadline = time.monotonic() + 30
        while len(app.state.jobclass.reports) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        kept = client.get("/report", params={"run_id": run_id})
        assert kept.status_code == 200 and f"<dd>{run_id}</dd>" in kept.text and len(_svgs(kept.text)) == 3
        assert app.state.jobclass.reports.builds == 1
        answers = [client.get("/report", params={"run_id": other}).status_code]
        while answers[-1] in (503, 504) and time.monotonic() < deadline:  # built on, then kept: a later ask gets it
            time.sleep(0.1)
            answers.append(client.get("/report", params={"run_id": other}).status_code)
        assert answers[-1] == 200 and set(answers) <= {200, 503, 504} and app.state.jobclass.reports.builds == 2
