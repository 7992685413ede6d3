"""Storage (issue 3): schema, loading, incremental reads, sinks, registry, the classify path, CLI.

Every database test runs on SQLite and, when reachable, on a throw-away PostgreSQL database.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from jobclass.model.classifier import PREDICTION_COLUMNS
from jobclass.paths import DEMO_POSTINGS
from jobclass.pipeline.ingest import load_postings_file, load_postings_stats
from jobclass.pipeline.interval import classify_interval, make_run_id, part_name, plan_chunks
from jobclass.pipeline.parquet_sink import (
    PARQUET_SCHEMA,
    read_parquet_metadata,
    stamp_predictions,
    write_parquet_partition,
)
from jobclass.store.engine import format_ts, make_engine, masked_url, normalize_url, to_utc
from jobclass.store.postings import chunk_starts, read_posting_range
from jobclass.store.predictions import write_chunk_sql
from jobclass.store.schema import init_schema, schema_statements

DAY = "2026-11-25"
NEXT_DAY = "2026-11-26"
TABLES = ["job_postings", "predictions", "prediction_runs", "rejected_postings", "posting_labels", "model_versions"]


def demo_records(n: int) -> list[dict]:
    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def fake_predictions(posting_ids: list[str], top_k: int = 3) -> pd.DataFrame:
    """A hand-made model output with exactly the model's columns."""
    rows = []
    for pid in posting_ids:
        for rank in range(1, top_k + 1):
            code = f"15-12{rank:02d}.00"
            rows.append(
                {
                    "posting_id": pid,
                    "rank": rank,
                    "onet_code": code,
                    "onet_title": f"Title {rank}",
                    "score": 1.0 / (rank + 1),
                    "soc6_code": code[:7],
                    "soc6_score": 0.6,
                    "major_group": "15",
                    "major_group_score": 0.9,
                    "needs_review": rank == 1,
                    "backoff_level": "soc6",
                    "evidence": "software developer",
                    "evidence_score": 0.75,
                }
            )
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def table_rows(engine, table: str, order: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))]


def parquet_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.parquet"))
    }


# -- engine and schema ------------------------------------------------------------------------
def test_postgres_urls_use_psycopg3_and_passwords_are_masked():
    assert normalize_url("postgresql://u:secret@h/db") == "postgresql+psycopg://u:secret@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert "secret" not in masked_url("postgresql+psycopg://u:secret@h/db")


def test_timestamps_have_one_fixed_utc_format():
    assert format_ts("2026-11-25") == "2026-11-25T00:00:00.000000Z"
    assert format_ts("2026-11-25T01:00:00+01:00") == "2026-11-25T00:00:00.000000Z"
    assert format_ts("2026-11-25T00:00:00Z") == format_ts(to_utc("2026-11-25T00:00:00"))


def test_schema_splits_into_statements():
    from jobclass.store.schema import schema_path

    statements = schema_statements(schema_path().read_text(encoding="utf-8"))
    assert statements and all(s.upper().startswith(("CREATE", "ALTER TABLE")) for s in statements)


def test_schema_is_idempotent_and_complete(engine):
    init_schema(engine)  # a second time: nothing fails, nothing changes
    names = set(sa.inspect(engine).get_table_names())
    assert set(TABLES) <= names
    columns = {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    assert set(PREDICTION_COLUMNS) - {"posting_id"} <= columns
    assert {"model_version", "run_id", "partition_date", "predicted_at"} <= columns


def test_a_bad_database_url_fails_with_what_to_check(tmp_path):
    from jobclass.store.engine import DatabaseUnavailable, wait_for_database

    engine = make_engine("postgresql://nobody:hunter2@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable) as info:
        wait_for_database(engine, attempts=2, max_wait_s=0.1)
    message = str(info.value)
    assert "hunter2" not in message and "Check that the server is running" in message


# -- loading and reading ----------------------------------------------------------------------
def test_demo_postings_load_once(engine):
    stats = load_postings_stats(engine, DEMO_POSTINGS, ingested_at=f"{DAY}T06:00:00Z")
    assert stats.read == stats.inserted == 793
    assert load_postings_file(engine, DEMO_POSTINGS) == 0  # the second load adds nothing
    with engine.connect() as conn:
        total, distinct = conn.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT id) FROM job_postings")).one()
        row = conn.execute(sa.text("SELECT * FROM job_postings WHERE id = 'usajobs:451842500'")).mappings().one()
    assert total == distinct == 793
    assert row["source"] == "usajobs"
    assert row["posted_at"] == "2020-12-03T00:00:00.000000Z"
    assert row["ingested_at"] == f"{DAY}T06:00:00.000000Z"  # kept from the first load
    assert row["body"].startswith("DOJ offers") and "Experienced attorney hiring" in row["body"]
    extras = json.loads(row["extras"])
    assert extras["department"] == "Department of Justice" and "id" not in extras and "title" not in extras


def test_csv_postings_load(engine, tmp_path):
    path = tmp_path / "postings.csv"
    long_body = "Maintain the fleet. " * 10_000  # 200 kB: beyond csv's default field limit
    pd.DataFrame(
        {
            "id": ["c1", "c2", "c1"],
            "title": ["Mechanic", "Cook", "Mechanic again"],
            "body": [long_body, "Cook meals", "x"],
            "employer": ["City", "Diner", "City"],
        }
    ).to_csv(path, index=False)
    stats = load_postings_stats(engine, path, ingested_at=DAY, source="feed")
    assert (stats.inserted, stats.duplicates_in_file) == (2, 1)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, title, source, extras, length(body) FROM job_postings ORDER BY id")
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [("c1", "Mechanic", "feed"), ("c2", "Cook", "feed")]
    assert json.loads(rows[0][3]) == {"employer": "City"} and rows[0][4] == len(long_body)


def test_incremental_reads_are_bounded_keyset_pages(engine, tmp_path):
    records = [{"id": f"p{i:04d}", "title": f"Job {i}", "body": "Do the work"} for i in range(53)]
    load_postings_file(engine, write_jsonl(tmp_path / "a.jsonl", records[:40]), ingested_at=f"{DAY}T23:59:59Z")
    load_postings_file(engine, write_jsonl(tmp_path / "b.jsonl", records[40:]), ingested_at=f"{NEXT_DAY}T00:00:00Z")
    starts, total = chunk_starts(engine, DAY, NEXT_DAY, chunk_size=7)
    assert total == 40 and starts == [f"p{i:04d}" for i in range(0, 40, 7)]
    bounds = zip(starts, [*starts[1:], None], strict=True)
    pages = [read_posting_range(engine, DAY, NEXT_DAY, first, after) for first, after in bounds]
    assert [len(p) for p in pages] == [7] * 5 + [5]
    ids = [i for p in pages for i in p["posting_id"]]
    assert ids == sorted(ids) == [f"p{i:04d}" for i in range(40)]  # [start, end): the next day's are out
    assert chunk_starts(engine, NEXT_DAY, "2026-11-27", chunk_size=100) == (["p0040"], 13)
    assert chunk_starts(engine, "2026-11-01", "2026-11-02", chunk_size=7) == ([], 0)
    assert read_posting_range(engine, "2026-11-01", "2026-11-02", None, None).empty


def test_chunk_plan_partitions_the_interval(engine, tmp_path):
    load_postings_file(
        engine,
        write_jsonl(tmp_path / "a.jsonl", [{"id": f"q{i:03d}", "title": "t"} for i in range(23)]),
        ingested_at=DAY,
    )
    chunks = plan_chunks(engine, DAY, NEXT_DAY, chunk_size=10)
    assert json.loads(json.dumps(chunks)) == chunks  # JSON-serialisable, for Airflow XCom
    assert [c["rows"] for c in chunks] == [10, 10, 3]
    assert chunks[0]["id_from"] is None and chunks[-1]["id_to"] is None
    read = [read_posting_range(engine, DAY, NEXT_DAY, c["id_from"], c["id_to"]) for c in chunks]
    assert [len(f) for f in read] == [10, 10, 3]
    assert sorted(i for f in read for i in f["posting_id"]) == [f"q{i:03d}" for i in range(23)]
    assert plan_chunks(engine, "2026-01-01", "2026-01-02", 10) == []


# -- sinks ------------------------------------------------------------------------------------
def test_parquet_partition_is_atomic_fixed_schema_and_reproducible(tmp_path):
    stamped = stamp_predictions(
        fake_predictions(["b", "a"]), model_version="m1", run_id="r1", partition_date=DAY, predicted_at=NEXT_DAY
    )
    path = write_parquet_partition(stamped, tmp_path, DAY, "part-x-00000", metadata={"jobclass.rows_read": "2"})
    assert path == tmp_path / f"dt={DAY}" / "part-x-00000.parquet"
    assert [p.name for p in path.parent.iterdir()] == ["part-x-00000.parquet"]  # no temporary left over
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == PARQUET_SCHEMA
    assert table.column("posting_id").to_pylist() == ["a"] * 3 + ["b"] * 3  # sorted by (posting, rank)
    assert read_parquet_metadata(path)["jobclass.rows_read"] == "2"
    first = path.read_bytes()
    write_parquet_partition(stamped, tmp_path, DAY, "part-x-00000", metadata={"jobclass.rows_read": "2"})
    assert path.read_bytes() == first
    empty = stamp_predictions(
        fake_predictions([]), model_version="m1", run_id="r1", partition_date=DAY, predicted_at=NEXT_DAY
    )
    assert pq.read_table(write_parquet_partition(empty, tmp_path, DAY, "empty")).num_rows == 0


def test_sql_writes_replace_the_runs_own_rows(engine, tmp_path):
    load_postings_file(
        engine, write_jsonl(tmp_path / "a.jsonl", [{"id": i, "title": "t"} for i in "abc"]), ingested_at=DAY
    )
    stamped = stamp_predictions(
        fake_predictions(["a", "b"]), model_version="m1", run_id="r1", partition_date=DAY, predicted_at=NEXT_DAY
    )
    rejects = pd.DataFrame({"posting_id": ["c"], "reason_code": ["empty"], "detail": ["blank"]})
    for _ in range(2):
        write_chunk_sql(engine, stamped, rejects, run_id="r1", model_version="m1", posting_ids=["a", "b", "c"])
    assert len(table_rows(engine, "predictions", "posting_id, rank")) == 6
    assert len(table_rows(engine, "rejected_postings", "posting_id")) == 1
    # b is now rejected: its predictions go, in the same transaction as its reject row
    rejects2 = pd.DataFrame({"posting_id": ["b", "c"], "reason_code": ["not_text", "empty"], "detail": ["x", "y"]})
    write_chunk_sql(
        engine,
        stamped[stamped.posting_id == "a"],
        rejects2,
        run_id="r1",
        model_version="m1",
        posting_ids=["a", "b", "c"],
    )
    assert {r[0] for r in table_rows(engine, "predictions", "posting_id")} == {"a"}
    assert [r[0] for r in table_rows(engine, "rejected_postings", "posting_id")] == ["b", "c"]


# -- registry ---------------------------------------------------------------------------------
def test_registry_keeps_one_champion(engine, monkeypatch, tmp_path):
    from jobclass.store import registry

    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)
    first = registry.register_model(engine, "v1", tmp_path / "v1", {"acc@1": 0.5}, "sha256:x")
    assert first.status == "challenger" and registry.get_champion(engine) is None
    again = registry.register_model(engine, "v1", tmp_path / "v1", {"acc@1": 0.5}, "sha256:x")
    assert again.created_at == first.created_at and len(registry.list_models(engine)) == 1
    registry.promote(engine, "v1", "first model")
    registry.register_model(engine, "v1", tmp_path / "v1", {"acc@1": 0.5}, "sha256:x")  # no silent demotion
    assert registry.get_champion(engine).version == "v1"
    registry.register_model(engine, "v2", tmp_path / "v2", {"acc@1": 0.6}, "sha256:x")
    champion = registry.promote(engine, "v2", "better acc@1")
    assert (champion.version, champion.reason) == ("v2", "better acc@1") and champion.promoted_at
    assert registry.get_model(engine, "v1").status == "retired"
    registry.record_decision(engine, "v1", "rejected", "regressed", metrics={"note": 1})
    v1 = registry.get_model(engine, "v1")
    assert (v1.status, v1.reason, v1.metrics) == ("rejected", "regressed", {"acc@1": 0.5, "note": 1})
    with pytest.raises(ValueError):
        registry.record_decision(engine, "v1", "champion", "no")
    with pytest.raises(registry.UnknownModelError):
        registry.promote(engine, "nope", "x")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM model_versions WHERE status = 'champion'")).scalar_one() == 1


def test_promote_refuses_a_corrupt_bundle(engine, tmp_path):
    from jobclass.model.bundle import BundleError
    from jobclass.store import registry

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    registry.register_model(engine, "bad", broken, {}, None)
    with pytest.raises(BundleError):
        registry.promote(engine, "bad", "should not happen")
    assert registry.get_champion(engine) is None


# -- the classify path (needs the tiny model) -------------------------------------------------
@pytest.fixture
def sample(engine, tmp_path):
    """40 real USAJOBS postings ingested on DAY."""
    load_postings_file(engine, write_jsonl(tmp_path / "sample.jsonl", demo_records(40)), ingested_at=f"{DAY}T12:00:00Z")
    return engine


@pytest.mark.slow
def test_classify_twice_gives_identical_rows_and_parquet(sample, tiny_classifier, tmp_path):
    engine, out = sample, tmp_path / "predictions"
    summary = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=3, chunk_size=15, out_dir=out)
    assert summary.status == "success" and summary.chunks == 3
    assert summary.rows_read == 40 == summary.rows_predicted + summary.rows_rejected
    assert summary.run_id == make_run_id(DAY, NEXT_DAY, tiny_classifier.version)
    assert summary.run_id.startswith("2026-11-25T00:00:00+00:00/2026-11-26T00:00:00+00:00/")
    snapshot = (
        table_rows(engine, "predictions", "posting_id, model_version, rank"),
        table_rows(engine, "rejected_postings", "run_id, posting_id"),
        parquet_digests(out),
    )
    assert len(snapshot[2]) == 3 and all(name.startswith(f"dt={DAY}/") for name in snapshot[2])

    again = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=3, chunk_size=15, out_dir=out, force=True)
    assert again.chunks_skipped == 0
    assert (
        table_rows(engine, "predictions", "posting_id, model_version, rank"),
        table_rows(engine, "rejected_postings", "run_id, posting_id"),
        parquet_digests(out),
    ) == snapshot  # byte-for-byte: recomputed, not appended

    lazy = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=3, chunk_size=15, out_dir=out)
    assert lazy.chunks_skipped == 3 and lazy.status == "success"

    # A different plan rewrites the parts and removes the stale ones: still no duplicates. (Scores
    # may move in the last bits: the encoder's batches differ, so only the keys are compared.)
    replanned = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=3, chunk_size=25, out_dir=out)
    assert replanned.chunks == 2 and replanned.status == "success"
    assert [r[:3] for r in table_rows(engine, "predictions", "posting_id, model_version, rank")] == [
        r[:3] for r in snapshot[0]
    ]
    frame = pq.read_table(out).to_pandas()
    assert len(frame) == len(snapshot[0])
    assert not frame.duplicated(["posting_id", "model_version", "rank"]).any()
    with engine.connect() as conn:
        duplicates = conn.execute(
            sa.text(
                "SELECT posting_id, model_version, rank FROM predictions "
                "GROUP BY posting_id, model_version, rank HAVING COUNT(*) > 1"
            )
        ).all()
        run = conn.execute(sa.text("SELECT * FROM prediction_runs")).mappings().one()
    assert duplicates == []
    assert (run["rows_read"], run["status"]) == (40, "success")
    assert run["rows_read"] == run["rows_predicted"] + run["rows_rejected"]
    rank1 = [r for r in snapshot[0] if r[2] == 1]
    assert all(r[15] == DAY and r[16] == f"{NEXT_DAY}T00:00:00.000000Z" for r in rank1)  # deterministic stamps


@pytest.mark.slow
def test_classify_chunk_is_resumable(sample, tiny_classifier, tmp_path):
    from jobclass.pipeline.interval import classify_chunk, finish_run, start_run
    from jobclass.store.runs import list_runs

    out = tmp_path / "predictions"
    chunks = plan_chunks(sample, DAY, NEXT_DAY, chunk_size=20)
    run_id = start_run(sample, DAY, NEXT_DAY, tiny_classifier.version, len(chunks))
    first = classify_chunk(sample, tiny_classifier, DAY, NEXT_DAY, chunks[0], out_dir=out)
    assert not first["skipped"] and first["rows_read"] == 20
    assert json.loads(json.dumps(first)) == first
    # half done: the run does not reconcile yet
    assert finish_run(sample, run_id, out_dir=out)["status"] == "mismatch"
    retried = classify_chunk(sample, tiny_classifier, DAY, NEXT_DAY, chunks[0], out_dir=out)
    assert retried["skipped"] and retried["rows_read"] == 20
    classify_chunk(sample, tiny_classifier, DAY, NEXT_DAY, chunks[1], out_dir=out)
    assert finish_run(sample, run_id, out_dir=out)["status"] == "success"
    assert [(r["run_id"], r["status"], r["rows_read"]) for r in list_runs(sample)] == [(run_id, "success", 40)]
    assert (out / f"dt={DAY}" / f"{part_name(run_id, 1)}.parquet").is_file()


# -- CLI ----------------------------------------------------------------------------------------
def test_cli_init_load_and_classify_without_a_model(database_url, tmp_path, capsys):
    from jobclass.cli import main

    assert main(["db", "init", "--database-url", database_url]) == 0
    assert main(["db", "load-postings", str(DEMO_POSTINGS), "--ingested-at", DAY, "--database-url", database_url]) == 0
    assert main(["db", "load-postings", "--database-url", database_url]) == 0  # the demo file again: nothing new
    out = capsys.readouterr().out
    assert "793" in out and "new postings" in out
    assert main(["classify", "--start", DAY, "--end", NEXT_DAY, "--database-url", database_url]) == 1
    assert "jobclass train" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_classify_with_the_champion(database_url, tiny_bundle_path, tiny_classifier, tmp_path, capsys, caplog):
    from jobclass.cli import main
    from jobclass.store import registry

    engine = make_engine(database_url)
    init_schema(engine)
    load_postings_file(engine, write_jsonl(tmp_path / "s.jsonl", demo_records(12)), ingested_at=DAY)
    registry.register_model(engine, tiny_classifier.version, tiny_bundle_path, {}, None, status="champion")
    engine.dispose()
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        code = main(
            [
                "classify",
                "--start",
                DAY,
                "--end",
                NEXT_DAY,
                "--top-k",
                "2",
                "--out-dir",
                str(out),
                "--database-url",
                database_url,
            ]
        )
    assert code == 0, capsys.readouterr().out
    assert "success" in capsys.readouterr().out
    assert list((out / f"dt={DAY}").glob("part-*.parquet"))
