"""The run report's SQL (jobclass.store.run_stats), on SQLite and, when reachable, PostgreSQL."""

from __future__ import annotations

from run_report_fixtures import night, night_run

from jobclass.store import run_stats


def test_a_run_without_history(engine):
    run_id = night_run(
        engine,
        0,
        [("a", "29-1141.00", 0.95, False), ("b", "29-1141.00", 0.40, True), ("c", "15-1252.00", 0.15, True)],
        rejects=[("d", "empty_text"), ("e", "empty_text"), ("f", "not_english")],
    )
    stats = run_stats.run_statistics(engine, run_id)
    assert stats["run"]["rows_read"] == 6 and stats["run"]["status"] == "success"
    assert stats["rejected"] == [{"reason_code": "empty_text", "n": 2}, {"reason_code": "not_english", "n": 1}]
    current = stats["current"]
    assert current["predicted"] == 3 and current["needs_review"] == 2
    assert current["score_bins"] == [0, 1, 0, 0, 1, 0, 0, 0, 0, 1]  # 0.15, 0.40, 0.95 in ten bins
    assert current["major_groups"] == {"29": 2, "15": 1}
    assert stats["baseline_runs"] == 0 and stats["baseline"]["predicted"] == 0
    assert stats["top_occupations"] == [
        {"onet_code": "29-1141.00", "onet_title": "Title 29-1141.00", "n": 2, "baseline_n": 0},
        {"onet_code": "15-1252.00", "onet_title": "Title 15-1252.00", "n": 1, "baseline_n": 0},
    ]
    assert run_stats.run_statistics(engine, "no/such/run") is None


def test_the_baseline_is_the_trailing_successful_nights(engine):
    night_run(engine, -40, [("old", "11-1011.00", 0.9, False)])  # outside the 28 nights
    night_run(engine, -3, [("f1", "15-1252.00", 0.8, False)], status="failed")  # not a success
    night_run(engine, -2, [("x1", "15-1252.00", 0.7, False), ("x2", "29-1141.00", 0.5, True)], version="m0")
    night_run(engine, -2, [("y1", "15-1252.00", 0.6, False)], version="m1", later_s=60)  # newer run of the same night
    night_run(engine, -1, [("z1", "15-1252.00", 0.9, False), ("z2", "15-1252.00", 0.2, True)])
    run_id = night_run(engine, 0, [("a", "29-1141.00", 0.95, False)])
    night_run(engine, 1, [("later", "29-1141.00", 0.9, False)])  # after the run: not its baseline

    stats = run_stats.run_statistics(engine, run_id)
    assert stats["baseline_runs"] == 2
    baseline = stats["baseline"]
    assert baseline["predicted"] == 3 and baseline["needs_review"] == 1
    assert baseline["major_groups"] == {"15": 3}
    assert baseline["score_bins"] == [0, 0, 1, 0, 0, 0, 1, 0, 0, 1]  # 0.2, 0.6, 0.9 in ten bins
    assert stats["top_occupations"][0] == {
        "onet_code": "29-1141.00", "onet_title": "Title 29-1141.00", "n": 1, "baseline_n": 0
    }


def test_runs_by_id_and_by_interval(engine):
    first = night_run(engine, 0, [("a", "29-1141.00", 0.9, False)], version="m0")
    second = night_run(engine, 0, [("b", "29-1141.00", 0.9, False)], version="m1", later_s=60)
    assert run_stats.get_run(engine, first)["model_version"] == "m0"
    start, end = night(0)
    assert run_stats.latest_run_of_interval(engine, start, end)["run_id"] == second
    assert run_stats.latest_run_of_interval(engine, "2000-01-01", "2000-01-02") is None
