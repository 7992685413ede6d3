"""The review page as a person uses it (issue 18): the real Airflow API server (its app, with the
plugins Airflow loads, served by uvicorn on a loopback port) and headless Chromium through selenium.

A reviewer (Airflow role User) labels postings by clicking a suggestion, by pressing its number, by
searching all occupations, and marks one "not codable"; the rows in posting_labels are checked. A
Viewer sees the page read-only and is refused a write; a cookie session without the CSRF header is
refused too. A screenshot of the page is saved in the test's tmp folder (and, with
JOBCLASS_UPDATE_SCREENSHOT=1, to docs/review_queue.png, which the README shows).

Chromium comes from Debian (``apt-get install chromium chromium-driver``; .ci/run installs it). Without
it the test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import httpx
import pytest
from airflow_fixtures import REPO, airflow_db  # noqa: F401  (fixture)
from browser_fixtures import chromium, served
from review_fixtures import MODEL, seed_review_queue

SCREENSHOT = REPO / "docs" / "review_queue.png"
WAIT_S = 30


@pytest.fixture(scope="module")
def server(airflow_db, tmp_path_factory, taxonomy):  # noqa: F811
    """The Airflow API server app with the jobclass plugin, on a loopback port, over a seeded queue."""
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from airflow.api_fastapi.app import get_auth_manager, purge_cached_app

    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    url = f"sqlite:///{tmp_path_factory.mktemp('review') / 'jobclass.db'}"
    old_url = os.environ.get("JOBCLASS_DATABASE_URL")
    os.environ["JOBCLASS_DATABASE_URL"] = url
    engine = make_engine(url)
    init_schema(engine)
    seed_review_queue(engine, taxonomy)
    app = create_airflow_app()
    jobclass_app = next(route.app for route in app.routes if getattr(route, "path", None) == "/jobclass")
    jobclass_app.state.jobclass._engine = None  # Airflow loads the plugin once a process: forget an earlier test's
    manager = get_auth_manager()

    def token(name: str, role: str) -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))

    try:
        with served(app, "airflow-api-server") as base:
            yield {"base": base, "engine": engine, "token": token}
    finally:
        purge_cached_app()
        jobclass_app.state.jobclass._engine = None
        engine.dispose()
        if old_url is None:
            os.environ.pop("JOBCLASS_DATABASE_URL", None)
        else:
            os.environ["JOBCLASS_DATABASE_URL"] = old_url


@pytest.fixture
def browser():
    with chromium("1200,1000", WAIT_S) as driver:
        yield driver


def _sign_in(driver, server, token: str) -> None:
    """What Airflow's login leaves: the ``_token`` cookie on the API server's origin."""
    driver.get(server["base"] + "/jobclass/health")  # a page on the origin, to set its cookie
    driver.add_cookie({"name": "_token", "value": token, "path": "/"})


def _card(driver, posting_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.posting[data-posting-id="{posting_id}"]')


def _wait_status(driver, posting_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d) -> bool:
        card = _card(d, posting_id)
        return text in card.find_element(By.CSS_SELECTOR, ".status").text and "decided" in card.get_attribute("class")

    WebDriverWait(driver, WAIT_S).until(done, f"{posting_id}: no {text!r}")


def _labels(engine) -> dict[str, tuple]:
    from jobclass.store.labels import current_labels

    rows = current_labels(engine, ["n1", "n2", "o1", "o2", "n3"])
    return {k: (v["decision"], v["onet_code"], v["reviewer"], v["model_version"], v["suggested_rank"]) for k, v in rows.items()}


def test_a_reviewer_labels_postings_by_click_and_by_keyboard(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _sign_in(browser, server, server["token"]("rita", "user"))
    browser.get(server["base"] + "/jobclass/review?order=newest")
    cards = browser.find_elements(By.CSS_SELECTOR, ".posting")
    assert [c.get_attribute("data-posting-id") for c in cards] == ["n2", "n1", "o2", "o1"]  # newest run first
    n1 = _card(browser, "n1")
    marked = [m.text for m in n1.find_elements(By.CSS_SELECTOR, "mark.read")]
    assert marked == ["Provide direct patient care in the ICU.", "Administer medications to patients."]
    suggestions = n1.find_elements(By.CSS_SELECTOR, ".suggestions li")
    assert len(suggestions) == 5
    assert "29-1141.00 Registered Nurses" in suggestions[0].text and "0.41" in suggestions[0].text
    assert "nearest title: Registered Nurses (title)" in suggestions[0].text

    # 1. By clicking: accept the top suggestion of the first posting.
    _card(browser, "n2").find_element(By.CSS_SELECTOR, '.accept[data-rank="1"]').click()
    _wait_status(browser, "n2", "Labelled 15-1252.00 Software Developers by rita")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(tmp_path / "review_queue.png"))

    # 2. By keyboard: the next posting is current; "2" accepts its second suggestion.
    assert "current" in _card(browser, "n1").get_attribute("class")
    ActionChains(browser).send_keys("2").perform()
    _wait_status(browser, "n1", "Labelled 29-1171.00 Nurse Practitioners by rita")

    # 3. "/" searches all occupations (typeahead); Enter takes the first match.
    ActionChains(browser).send_keys("/").perform()
    search = _card(browser, "o2").find_element(By.CSS_SELECTOR, ".occupation-search")
    assert browser.switch_to.active_element == search
    search.send_keys("first-line supervisors of retail")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: _card(d, "o2").find_elements(By.CSS_SELECTOR, ".results li.active"), "no search results"
    )
    first = _card(browser, "o2").find_element(By.CSS_SELECTOR, ".results li.active").text
    assert first.startswith("41-1011.00 First-Line Supervisors of Retail Sales Workers")
    search.send_keys("\n")
    _wait_status(browser, "o2", "Labelled 41-1011.00")

    # 4. "x" marks the last one not codable.
    ActionChains(browser).send_keys("x").perform()
    _wait_status(browser, "o1", "Marked not codable by rita")

    assert _labels(server["engine"]) == {
        "n2": ("coded", "15-1252.00", "rita", MODEL, 1),
        "n1": ("coded", "29-1171.00", "rita", MODEL, 2),
        "o2": ("coded", "41-1011.00", "rita", MODEL, None),  # searched: not among the suggestions
        "o1": ("not_codable", "", "rita", MODEL, None),
    }
    browser.get(server["base"] + "/jobclass/review")  # all decided: the pending queue is empty
    assert "Nothing to review here." in browser.page_source
    browser.get(server["base"] + "/jobclass/review?state=decided")
    assert "Labelled 15-1252.00 Software Developers by rita" in _card(browser, "n2").text

    # A second decision replaces the first; the first is kept in the history.
    _card(browser, "n1").find_element(By.CSS_SELECTOR, '.accept[data-rank="1"]').click()
    _wait_status(browser, "n1", "Labelled 29-1141.00 Registered Nurses by rita")
    from jobclass.store.labels import label_history

    assert [h["onet_code"] for h in label_history(server["engine"], "n1")] == ["29-1171.00", "29-1141.00"]

    assert (tmp_path / "review_queue.png").stat().st_size > 10_000
    if os.environ.get("JOBCLASS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "review_queue.png", SCREENSHOT)


def test_a_viewer_reads_but_may_not_label(server, browser):
    from selenium.webdriver.common.by import By

    _sign_in(browser, server, server["token"]("vic", "viewer"))
    browser.get(server["base"] + "/jobclass/review?state=all")
    assert "Labelling needs edit permission" in browser.page_source
    buttons = browser.find_elements(By.CSS_SELECTOR, ".accept, .not-codable")
    assert buttons and all(not b.is_enabled() for b in buttons)

    body = {"posting_id": "n3", "decision": "coded", "onet_code": "51-4121.00", "model_version": MODEL}
    viewer = {"Authorization": "Bearer " + server["token"]("vic", "viewer")}
    response = httpx.post(server["base"] + "/jobclass/review/decisions", json=body, headers=viewer)
    assert response.status_code == 403 and "edit permission" in response.json()["detail"]
    assert httpx.post(server["base"] + "/jobclass/review/decisions", json=body).status_code == 401
    assert "n3" not in _labels(server["engine"])


def test_a_cookie_session_needs_the_csrf_token(server):
    import hashlib

    cookie = server["token"]("rita", "user")
    body = {"posting_id": "n3", "decision": "not_codable", "model_version": MODEL}
    url = server["base"] + "/jobclass/review/decisions"
    with httpx.Client(cookies={"_token": cookie}) as client:
        refused = client.post(url, json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        assert client.post(url, json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
        assert "n3" not in _labels(server["engine"])
        token = client.get(server["base"] + "/jobclass/review/csrf").json()["token"]
        assert token == hashlib.sha256(cookie.encode()).hexdigest()
        assert client.post(url, json=body, headers={"X-CSRF-Token": token}).status_code == 200
    assert _labels(server["engine"])["n3"][:3] == ("not_codable", "", "rita")


def test_the_views_are_in_the_airflow_ui(server):
    """Airflow lists the nav entry and the "Review this run" tab, with relative hrefs."""
    headers = {"Authorization": "Bearer " + server["token"]("admin", "admin")}
    plugins = httpx.get(server["base"] + "/api/v2/plugins", headers=headers).json()["plugins"]
    views = {v["name"]: v for p in plugins if p["name"] == "jobclass_api" for v in p["external_views"]}
    assert views["Review queue"]["href"] == "jobclass/review" and views["Review queue"]["destination"] == "nav"
    run_view = views["Review this run"]
    assert run_view["destination"] == "dag_run"
    assert run_view["href"] == "jobclass/review?dag_id={DAG_ID}&dag_run_id={RUN_ID}"
    page = httpx.get(
        server["base"] + "/jobclass/review",
        params={"dag_id": "jobclass_nightly_classify", "dag_run_id": "manual__unknown"},
        headers=headers,
    )
    assert page.status_code == 200 and "No prediction run found for the Airflow run manual__unknown" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
