"""The run report in headless Chromium: the page the Airflow UI shows on a nightly run's "Run report"
tab, served by uvicorn over 28 ordinary nights and a shifted one. A full-page screenshot is saved in
the test's tmp folder (and, with JOBCLASS_UPDATE_SCREENSHOT=1, to docs/run_report.png, which the
README shows).

Chromium comes from Debian (``apt-get install chromium chromium-driver``). Without it the test is
skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from browser_fixtures import chromium, served
from run_report_fixtures import night_run

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "run_report.png"

# Ordinary nights: mostly software, nursing and accounting; the shifted night: a wave of food-service ads.
USUAL = {"15-1252.00": 30, "29-1141.00": 25, "13-2011.00": 15, "43-4051.00": 10, "11-1021.00": 8, "41-2031.00": 12}
SHIFTED = {"35-2014.00": 30, "35-3023.00": 20, "15-1252.00": 12, "29-1141.00": 10, "41-2031.00": 8}


def _rows(rng: random.Random, mix: dict[str, int], n: int, prefix: str, low: float) -> list[tuple]:
    codes = rng.choices(list(mix), weights=list(mix.values()), k=n)
    scores = [min(0.99, max(0.02, rng.betavariate(2, 3) + low)) for _ in codes]
    return [(f"{prefix}-{i:03d}", c, s, s < 0.8) for i, (c, s) in enumerate(zip(codes, scores))]


def _seed(engine, taxonomy) -> str:
    titles = dict(zip(taxonomy.occupations["code"], taxonomy.occupations["title"]))
    rng = random.Random(18)
    for offset in range(-28, 0):
        night_run(engine, offset, _rows(rng, USUAL, 40, f"n{offset}", 0.25), titles=titles)
    rejects = [("r-1", "empty_text"), ("r-2", "empty_text"), ("r-3", "not_a_posting")]
    return night_run(engine, 0, _rows(rng, SHIFTED, 80, "now", 0.05), rejects=rejects, titles=titles)


@pytest.fixture
def server(engine):
    from jobclass.airflow.api.app import create_app

    app = create_app(engine_factory=lambda: engine, bundle_loader=lambda path: None, auth=None)
    with served(app, "run-report-server") as base:
        yield base


@pytest.fixture
def browser():
    with chromium("1100,900") as driver:
        yield driver


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_run_report_in_a_browser(engine, taxonomy, server, browser, tmp_path):
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    run_id = _seed(engine, taxonomy)
    browser.get(f"{server}/report?run_id={quote(run_id, safe='')}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "jobclass run report"
    warnings = [w.text for w in browser.find_elements(By.CSS_SELECTOR, ".warning")]
    assert any("major-group mix" in w for w in warnings), warnings
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 3 and all(c.size["width"] > 300 and c.size["height"] > 100 for c in charts)
    assert "Fast Food and Counter Workers" in browser.page_source
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1100, height + 160)  # the whole page, no scrollbar
    browser.save_screenshot(str(tmp_path / "run_report.png"))
    assert (tmp_path / "run_report.png").stat().st_size > 20_000
    if os.environ.get("JOBCLASS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "run_report.png", SCREENSHOT)
