"""The storage modules one by one: schema, postings, runs, labels, registry metrics, ad-hoc queries.

Each database test runs on SQLite and, when reachable, on a throw-away PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from jobclass.paths import project_root
from jobclass.store import labels, postings, registry, runs
from jobclass.store.engine import format_ts, query_rows
from jobclass.store.schema import schema_path, schema_statements, schema_text

DAY, NEXT_DAY, LATER = "2026-11-25", "2026-11-26", "2026-11-27"


def _posting(posting_id: str, title: str | None = "t", body: str | None = "b") -> dict:
    return {"id": posting_id, "title": title, "body": body, "source": "test", "posted_at": None, "extras": None}


def _load(engine, ids: list[str], day: str = DAY) -> int:
    rows = [_posting(i) for i in ids]
    return postings.insert_postings_batch(engine, rows, [], stamp=format_ts(day), origin="test", loaded_at=format_ts(day))


def _run(run_id: str, start: str = DAY, end: str = NEXT_DAY, version: str = "m1", chunks: int = 1) -> dict:
    return {
        "run_id": run_id,
        "interval_start": format_ts(start),
        "interval_end": format_ts(end),
        "model_version": version,
        "partition_date": start,
        "chunks": chunks,
        "started_at": format_ts(start),
    }


# -- schema -----------------------------------------------------------------------------------
def test_the_schema_is_package_data_and_sql_schema_links_to_it():
    path = schema_path()
    assert path == Path(__file__).resolve().parents[3] / "jobclass" / "store" / "schema.sql"
    analysts = project_root() / "sql" / "schema.sql"
    assert analysts.is_symlink() and analysts.resolve() == path.resolve()
    assert schema_text() == path.read_text(encoding="utf-8")
    assert any(s.startswith("CREATE TABLE IF NOT EXISTS job_postings") for s in schema_statements(schema_text()))


# -- postings ---------------------------------------------------------------------------------
def test_a_postings_batch_keeps_existing_ids_and_records_rejects(engine):
    rejects = [{"line": 3, "reason_code": "invalid_json", "detail": "not valid JSON", "raw": "{"}]
    new = postings.insert_postings_batch(
        engine, [_posting("a"), _posting("b")], rejects, stamp=None, origin="f.jsonl", loaded_at="L"
    )
    again = postings.insert_postings_batch(
        engine, [_posting("b", title="changed"), _posting("c")], [], stamp=None, origin="f.jsonl", loaded_at="L2"
    )
    assert (new, again) == (2, 1)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, title, ingested_at FROM job_postings ORDER BY id")).all()
        rejected = conn.execute(sa.text("SELECT file, line, reason_code, raw FROM load_rejects")).all()
    assert [(r[0], r[1]) for r in rows] == [("a", "t"), ("b", "t"), ("c", "t")]  # b untouched
    assert all(r[2].endswith("Z") and len(r[2]) == len(format_ts(DAY)) for r in rows)  # stamped at commit
    assert [tuple(r) for r in rejected] == [("f.jsonl", 3, "invalid_json", "{")]


def test_an_empty_interval_is_refused():
    with pytest.raises(ValueError, match="empty interval"):
        postings.interval_params(NEXT_DAY, DAY)


# -- runs -------------------------------------------------------------------------------------
def test_a_runs_row_its_counts_and_its_outcome(engine):
    _load(engine, ["a", "b", "c"])
    _load(engine, ["z"], NEXT_DAY)  # outside the interval
    assert runs.run_with_counts(engine, "r1") == (None, None)
    runs.record_run_started(engine, _run("r1", chunks=2))
    run, counts = runs.run_with_counts(engine, "r1")
    assert run["status"] == "running" and run["chunks"] == 2
    assert counts == {"rows_read": 3, "rows_predicted": 0, "rows_rejected": 0, "rows_skipped": 0, "unaccounted": 3}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rejected_postings (posting_id, run_id, reason_code, detail) "
                "VALUES ('b', 'r1', 'empty', 'x')"
            )
        )
    assert runs.chunk_counts(engine, DAY, NEXT_DAY, "r1", {"id_from": "b", "id_to": None}) == {
        "rows_read": 2,
        "predicted": 0,
        "rejected": 1,
        "already_coded": 0,
    }
    assert runs.chunk_counts(engine, DAY, NEXT_DAY, "r1", {"id_from": None, "id_to": "b"})["rows_read"] == 1
    outcome = {"status": "mismatch", "detail": "d", "finished_at": format_ts(NEXT_DAY), "duration_s": 1.5}
    runs.record_run_outcome(engine, "r1", runs.run_with_counts(engine, "r1")[1], outcome)
    run, _ = runs.run_with_counts(engine, "r1")
    assert (run["status"], run["rows_read"], run["rows_rejected"], run["duration_s"]) == ("mismatch", 3, 1, 1.5)
    runs.record_run_if_missing(engine, {k: v for k, v in _run("r1").items() if k != "chunks"})
    assert runs.run_with_counts(engine, "r1")[0]["status"] == "mismatch"  # an existing row is kept
    runs.record_run_started(engine, _run("r1", chunks=1))  # a new attempt clears the outcome
    run, _ = runs.run_with_counts(engine, "r1")
    assert (run["status"], run["rows_read"], run["detail"], run["finished_at"]) == ("running", None, None, None)


def test_pending_interval_running_versions_and_the_run_list(engine):
    end = f"{LATER}T00:00:00Z"
    assert runs.pending_interval(engine, end) is None  # nothing ingested
    _load(engine, ["a"])
    first = runs.pending_interval(engine, end)
    assert first["start"] == format_ts(DAY) and "first posting" in first["basis"]
    runs.record_run_started(engine, _run("r1", version="m1"))
    runs.record_run_started(engine, _run("r2", start=NEXT_DAY, end=LATER, version="m2"))
    assert runs.running_model_versions(engine) == {"m1", "m2"}
    done = {"status": "success", "detail": None, "finished_at": format_ts(NEXT_DAY), "duration_s": 1.0}
    runs.record_run_outcome(engine, "r1", {"rows_read": 1, "rows_predicted": 1, "rows_rejected": 0}, done)
    assert runs.running_model_versions(engine) == {"m2"}
    since = runs.pending_interval(engine, end)
    assert since["start"] == format_ts(NEXT_DAY) and "last successful run" in since["basis"]
    assert runs.pending_interval(engine, NEXT_DAY) is None  # the last run already reached it
    assert [r["run_id"] for r in runs.list_runs(engine)] == ["r2", "r1"]  # newest first
    assert [r["run_id"] for r in runs.list_runs(engine, limit=1, offset=1)] == ["r1"]


# -- labels -----------------------------------------------------------------------------------
def test_reviewed_labels_take_the_latest_review(engine):
    postings.insert_postings_batch(
        engine, [_posting("a"), _posting("b", title=None, body=None)], [], stamp=format_ts(DAY), origin="t", loaded_at="L"
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at) VALUES "
                "('a', '11-1011.00', 'r1', '2026-01-01'), ('a', '15-1252.00', 'r2', '2026-02-01'), "
                "('b', '29-1141.00', 'r1', '2026-01-01')"
            )
        )
    frame = labels.read_reviewed_labels(engine)
    assert list(frame.columns) == labels.LABEL_COLUMNS
    assert frame.to_dict("records") == [
        {"posting_id": "a", "title": "t", "body": "b", "onet_code": "15-1252.00"},
        {"posting_id": "b", "title": "", "body": "", "onet_code": "29-1141.00"},
    ]


# -- registry ---------------------------------------------------------------------------------
def test_updating_metrics_keeps_the_status_path_and_reason(engine, monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)
    registry.register_model(engine, "v1", tmp_path / "v1", {"old": 1}, "sha256:a", reason="first")
    registry.promote(engine, "v1", "the champion")
    updated = registry.update_metrics(engine, "v1", {"acc@1": 0.5}, "sha256:b")
    assert (updated.status, updated.reason, updated.path) == ("champion", "the champion", str((tmp_path / "v1").resolve()))
    assert (updated.metrics, updated.benchmark_hash) == ({"acc@1": 0.5}, "sha256:b")
    with pytest.raises(registry.UnknownModelError):
        registry.update_metrics(engine, "nope", {}, None)


# -- ad-hoc queries ---------------------------------------------------------------------------
def test_query_rows_returns_columns_and_at_most_limit_rows(engine):
    _load(engine, ["a", "b", "c"])
    columns, rows = query_rows(engine, "SELECT id, source FROM job_postings ORDER BY id", limit=2)
    assert columns == ["id", "source"] and rows == [("a", "test"), ("b", "test")]
