"""``rows_skipped`` where a run's counts are shown (issue 29, item 1): the run report's tile and the
plugin's ``GET /runs``. A run whose interval overlaps one that already coded its postings (a manual
run, then the scheduled night) reads them, codes none of them again, and says so: read =
predicted + rejected + already coded by another run."""

from __future__ import annotations

import re
from datetime import timedelta

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
from run_report_fixtures import night, night_run
from test_run_report import client  # noqa: F401  (fixture: the plugin's app on ``engine``)

from jobclass.pipeline.interval import finish_run, start_run
from jobclass.store.engine import format_ts, to_utc


def _overlapping_run(engine, out_dir) -> str:
    """A run of the first hour of night 0, whose two postings night 0's run already coded with the
    same model version: reconciled by :func:`finish_run` from the database, as the nightly does."""
    start, _ = night(0)
    run_id = start_run(engine, start, format_ts(to_utc(start) + timedelta(hours=1)), "m1", 0)
    run = finish_run(engine, run_id, out_dir=out_dir)
    assert (run["status"], run["rows_read"], run["rows_predicted"], run["rows_skipped"]) == ("success", 2, 0, 2)
    return run_id


def test_the_report_and_the_runs_list_show_what_another_run_already_coded(client, engine, tmp_path):  # noqa: F811
    night_run(engine, 0, [("a", "29-1141.00", 0.9, False)], rejects=[("bad-1", "empty_text")])
    run_id = _overlapping_run(engine, tmp_path)

    html = client.get("/report", params={"run_id": run_id}).text
    tiles = {label.strip(): count for count, label in re.findall(r"<b>([^<]+)</b><span>([^<(]+)", html)}
    assert {k: tiles[k] for k in ("rows read", "predicted", "rejected", "already coded by another run")} == {
        "rows read": "2", "predicted": "0", "rejected": "0", "already coded by another run": "2"
    }

    runs = {r["run_id"]: r for r in client.get("/runs").json()["runs"]}
    counts = ("rows_read", "rows_predicted", "rows_rejected", "rows_skipped")
    assert [runs[run_id][k] for k in counts] == [2, 0, 0, 2]
    night_id = next(r for r in runs if r != run_id)
    assert [runs[night_id][k] for k in counts] == [2, 1, 1, 0]  # the night that coded them first
