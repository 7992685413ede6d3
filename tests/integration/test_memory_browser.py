"""The coded-title memory as a reviewer meets it (issue 27), in headless Chromium on the real Airflow
API server with the jobclass plugin: one bulk decision over the N pending postings with a title
("apply to all N"), its N labels and the memory entry; then the nightly's own steps (plan,
predict_chunk, finish) on a new posting with the same title, which is coded from memory, says so in
its prediction row, and shows it on the predictions page.

Chromium comes from Debian (``apt-get install chromium chromium-driver``; .ci/run installs it). Without
it the test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
import sqlalchemy as sa
from airflow_fixtures import airflow_db  # noqa: F401  (fixture)
from browser_fixtures import chromium, served

WAIT_S = 30
TITLE = "Budget Analyst"
DAY1 = datetime(2026, 11, 25, tzinfo=UTC)
DAY2 = datetime(2026, 11, 26, tzinfo=UTC)
DAY3 = datetime(2026, 11, 27, tzinfo=UTC)
BODY = "Formulate and execute the budget of the installation. Prepare budget estimates and reports."


def _load(engine, day: datetime, postings: list[tuple[str, str]]) -> None:
    from jobclass.pipeline.ingest import load_records

    records = [{"id": pid, "title": title, "body": BODY} for pid, title in postings]
    load_records(engine, records, source="test", ingested_at=day.replace(hour=6))


def _nightly(engine, model: dict, start: datetime, end: datetime) -> dict:
    """The nightly DAG's steps, as its tasks call them."""
    from jobclass.pipeline.nightly import finish, plan, predict_chunk

    chunks = plan(engine, model, start, end, chunk_size=100)
    results = [predict_chunk(engine, model, chunk, start, end, top_k=5) for chunk in chunks]
    return finish(engine, model, start, end, results)


@pytest.fixture(scope="module")
def server(airflow_db, tmp_path_factory, tiny_classifier, tiny_bundle_path):  # noqa: F811
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from airflow.api_fastapi.app import get_auth_manager, purge_cached_app

    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    home = tmp_path_factory.mktemp("memory-browser")
    url = f"sqlite:///{home / 'jobclass.db'}"
    old = {k: os.environ.get(k) for k in ("JOBCLASS_DATABASE_URL", "JOBCLASS_HOME")}
    os.environ["JOBCLASS_DATABASE_URL"] = url
    os.environ["JOBCLASS_HOME"] = str(home)
    engine = make_engine(url)
    init_schema(engine)
    model = {"version": tiny_classifier.version, "path": str(tiny_bundle_path)}
    _load(engine, DAY1, [("b1", TITLE), ("b2", "BUDGET ANALYST"), ("b3", f"{TITLE} - Remote"), ("w1", "Welder")])
    _nightly(engine, model, DAY1, DAY2)
    with engine.begin() as conn:  # whatever the tiny model scored: every posting asks a reviewer
        conn.execute(sa.text("UPDATE predictions SET needs_review = TRUE"))
    app = create_airflow_app()
    jobclass_app = next(route.app for route in app.routes if getattr(route, "path", None) == "/jobclass")
    jobclass_app.state.jobclass._engine = None
    manager = get_auth_manager()

    def token(name: str, role: str) -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))

    try:
        with served(app, "airflow-api-server") as base:
            yield {"base": base, "engine": engine, "token": token, "model": model}
    finally:
        purge_cached_app()
        jobclass_app.state.jobclass._engine = None
        engine.dispose()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_one_bulk_decision_labels_n_postings_and_the_next_night_codes_the_title_from_memory(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from jobclass.pipeline.memory import memory_table
    from jobclass.store.labels import current_labels

    engine = server["engine"]
    with chromium("1200,1000", WAIT_S) as browser:
        browser.get(server["base"] + "/jobclass/health")
        browser.add_cookie({"name": "_token", "value": server["token"]("rita", "user"), "path": "/"})
        browser.get(server["base"] + "/jobclass/review")
        cards = browser.find_elements(By.CSS_SELECTOR, ".posting")
        # The default order: the decision that settles most first (three budget analysts), then the welder.
        assert [c.get_attribute("data-settles") for c in cards] == ["3", "3", "3", "1"]
        first = cards[0]
        toggle = first.find_element(By.CSS_SELECTOR, ".bulk-toggle")
        assert toggle.text == "Apply to all 3 pending postings with this title…"
        assert not cards[3].find_elements(By.CSS_SELECTOR, ".bulk-toggle")
        toggle.click()
        WebDriverWait(browser, WAIT_S).until(
            lambda d: len(first.find_elements(By.CSS_SELECTOR, ".group li")) == 3, "the N postings are not listed"
        )
        listed = {li.get_attribute("data-posting-id") for li in first.find_elements(By.CSS_SELECTOR, ".group li")}
        assert listed == {"b1", "b2", "b3"}
        assert "applies to these 3 pending postings" in first.find_element(By.CSS_SELECTOR, ".group").text

        # The reviewer writes a note, searches the code and confirms it for all three with Enter.
        first.find_element(By.CSS_SELECTOR, ".note").send_keys("formulation and execution in all three")
        search = first.find_element(By.CSS_SELECTOR, ".occupation-search")
        search.send_keys("budget analysts")
        WebDriverWait(browser, WAIT_S).until(lambda d: first.find_elements(By.CSS_SELECTOR, ".results li.active"), "no results")
        assert first.find_element(By.CSS_SELECTOR, ".results li.active").text.startswith("13-2031.00 Budget Analysts")
        search.send_keys("\n")

        def all_decided(d) -> bool:
            done = [c for c in d.find_elements(By.CSS_SELECTOR, ".posting") if "decided" in c.get_attribute("class")]
            return len(done) == 3

        WebDriverWait(browser, WAIT_S).until(all_decided, "the three cards are not marked decided")
        status = first.find_element(By.CSS_SELECTOR, ".status").text
        assert "Labelled 13-2031.00 Budget Analysts by rita (one decision on 3 postings)" in status
        assert "Memory: reviewed: 3 postings with this title coded 13-2031.00, last by rita" in status
        browser.save_screenshot(str(tmp_path / "bulk.png"))

        labels = current_labels(engine, ["b1", "b2", "b3", "w1"])
        assert set(labels) == {"b1", "b2", "b3"}
        assert {(v["onet_code"], v["reviewer"], v["decision"], v["note"]) for v in labels.values()} == {
            ("13-2031.00", "rita", "coded", "formulation and execution in all three")
        }
        bulk_ids = {v["bulk_id"] for v in labels.values()}
        assert len(bulk_ids) == 1 and None not in bulk_ids
        assert len({v["created_at"] for v in labels.values()}) == 1
        entry = memory_table(engine).set_index("memory_key").loc["budget analyst"]
        assert (entry["onet_code"], entry["n"], bool(entry["conflict"])) == ("13-2031.00", 3, False)

        # The next night: a new budget analyst is coded from memory, with no retrain.
        _load(engine, DAY2, [("b9", "Budget Analyst"), ("w9", "Welder")])
        summary = _nightly(engine, server["model"], DAY2, DAY3)
        assert summary["status"] == "success" and summary["predicted"] == 2
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT onet_code, source, evidence, score FROM predictions WHERE posting_id = 'b9' AND rank = 1")
            ).one()
            welder = conn.execute(sa.text("SELECT source FROM predictions WHERE posting_id = 'w9' AND rank = 1")).scalar()
        assert (row.onet_code, row.source, welder) == ("13-2031.00", "memory", "model")
        assert row.evidence.startswith("reviewed: 3 postings with this title coded 13-2031.00, last by rita on ")
        assert 0 < row.score < 1

        browser.get(server["base"] + "/jobclass/predictions?q=b9")
        card = browser.find_element(By.CSS_SELECTOR, '.posting[data-posting-id="b9"]')
        assert "top code from the reviewers' memory" in card.text
        assert "13-2031.00 Budget Analysts" in card.find_element(By.CSS_SELECTOR, '.accept[data-rank="1"]').text
        assert "reviewed: 3 postings with this title" in card.text
