"""Ingestion (issue 16, items 3 and 4): no posting falls between two intervals, and a bad line
of a file is rejected with its reason while the rest of the file loads.

Every test runs on SQLite and, when reachable, on a throw-away PostgreSQL database.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from itertools import islice
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from jobclass.paths import DEMO_POSTINGS
from jobclass.pipeline.ingest import load_postings_stats, load_records
from jobclass.pipeline.interval import classify_interval, plan_chunks
from jobclass.pipeline.validation import MAX_BODY_CHARS
from jobclass.store.engine import format_ts, make_engine, utc_now
from jobclass.store.schema import init_schema, schema_path, schema_statements

SINCE = "2000-01-01"  # an interval start before every load of these tests


def demo_records(prefix: str, n: int) -> list[dict]:
    """``n`` real USAJOBS records under new ids."""
    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in islice(fh, n)]
    return [{**r, "id": f"{prefix}{i:03d}"} for i, r in enumerate(records)]


def runs_per_posting(engine) -> dict[str, list[str]]:
    """For every posting: the runs that predicted or rejected it."""
    query = sa.text(
        "SELECT p.id, r.run_id FROM job_postings p LEFT JOIN ("
        " SELECT posting_id, run_id FROM predictions WHERE rank = 1"
        " UNION ALL SELECT posting_id, run_id FROM rejected_postings"
        ") r ON r.posting_id = p.id ORDER BY p.id, r.run_id"
    )
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for posting_id, run_id in conn.execute(query):
            found.setdefault(posting_id, []).extend([run_id] if run_id else [])
    return found


# =========================================================================== item 3: the cutoff


def test_a_batch_in_flight_when_a_run_is_planned_is_in_that_run(engine, monkeypatch):
    """A batch stamped before the cutoff whose commit is still pending when planning starts: the
    plan waits for the commit and counts it (before: the plan missed it, and the next interval,
    which starts at the cutoff, never read it either).

    No timing: the batch is held open, stamped and uncommitted, until the plan says it waits for it
    (``postings.waiting_for_loads``) or the plan is over; a plan that read without waiting would
    find nothing, and the hold would end only after it."""
    from jobclass.store import postings

    stamped = threading.Event()  # the loader's batch is stamped, its INSERT about to run, not committed
    released = threading.Event()  # the batch may commit now
    held_until: list[str] = []

    def plan_waits() -> None:
        held_until.append("the plan waits for the batch")
        released.set()

    def hold_the_batch(conn, cursor, statement, *args) -> None:
        if statement.startswith("INSERT INTO job_postings") and not stamped.is_set():
            stamped.set()
            if not released.wait(120):
                held_until.append("timed out")

    monkeypatch.setattr(postings, "waiting_for_loads", plan_waits)
    sa.event.listen(engine, "before_cursor_execute", hold_the_batch)
    loader = threading.Thread(target=load_records, args=(engine, demo_records("inflight-", 5)))
    loader.start()
    try:
        assert stamped.wait(60), "the load never reached its insert"
        cutoff = utc_now()  # after the batch's stamp, before its commit
        chunks = plan_chunks(engine, SINCE, cutoff, chunk_size=100)
    finally:
        if not released.is_set():
            held_until.append("the plan ended without waiting")
            released.set()
        loader.join(60)
        sa.event.remove(engine, "before_cursor_execute", hold_the_batch)
    assert not loader.is_alive()
    assert held_until == ["the plan waits for the batch"]
    assert chunks == [{"index": 0, "id_from": None, "id_to": None, "rows": 5}]  # the batch, all five postings
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM job_postings")).scalar_one() == 5
    later = plan_chunks(engine, cutoff, utc_now(), chunk_size=100)
    assert later == []  # and not in the next interval as well


@pytest.mark.slow
def test_a_load_that_commits_during_a_run_is_classified_by_exactly_one_interval(engine, tiny_classifier, tmp_path):
    """One file load, batches of 4: the first commits before a run is planned; the run classifies
    [SINCE, cutoff); the other batches commit after that run; the next run classifies [cutoff, now).
    Every posting is predicted or rejected by exactly one of the two runs."""
    out = tmp_path / "out"
    runs = []

    def feed():
        yield from demo_records("early-", 4)  # batch 1: committed before the next record is asked for
        cutoff = utc_now()
        runs.append(classify_interval(engine, tiny_classifier, SINCE, cutoff, top_k=2, chunk_size=50, out_dir=out))
        yield from demo_records("late-", 6)  # batches 2 and 3: commit after that run was planned and finished

    stats = load_records(engine, feed(), source="usajobs", batch_size=4)
    assert stats.inserted == 10
    runs.append(
        classify_interval(engine, tiny_classifier, runs[0].interval_end, utc_now(), top_k=2, chunk_size=50, out_dir=out)
    )

    assert [r.status for r in runs] == ["success", "success"]
    assert [r.rows_read for r in runs] == [4, 6]
    found = runs_per_posting(engine)
    assert len(found) == 10
    assert {pid: len(run_ids) for pid, run_ids in found.items()} == dict.fromkeys(found, 1)
    assert {found[f"early-{i:03d}"][0] for i in range(4)} == {runs[0].run_id}
    assert {found[f"late-{i:03d}"][0] for i in range(6)} == {runs[1].run_id}


def test_each_batch_is_stamped_when_it_commits(engine):
    """Without --ingested-at a batch's stamp is taken inside its own transaction, not once per file."""
    before = utc_now()

    def feed():
        yield from demo_records("b1-", 2)
        time.sleep(0.05)
        yield from demo_records("b2-", 2)

    load_records(engine, feed(), batch_size=2)
    with engine.connect() as conn:
        stamps = dict(conn.execute(sa.text("SELECT id, ingested_at FROM job_postings")).all())
    first, second = {stamps["b1-000"], stamps["b1-001"]}, {stamps["b2-000"], stamps["b2-001"]}
    assert len(first) == len(second) == 1
    assert format_ts(before) < first.pop() < second.pop()  # fixed-width UTC text: text order is time order


# =========================================================================== item 4: bad files


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def posting(pid: str, body: str = "Provide nursing care to patients.") -> str:
    return json.dumps({"id": pid, "title": "Registered Nurse", "body": body})


LONG_BODY = "Operate and maintain the water treatment plant. " * (MAX_BODY_CHARS // 40)
BAD_FILE = [
    posting("ok-1"),
    posting("ok-2"),
    '{"id": "broken", "title": "cut off in the middle',  # line 3: not JSON
    "[1, 2, 3]",  # line 4: JSON, not an object
    json.dumps({"title": "Cook", "body": "Prepare meals."}),  # line 5: no id
    "",
    posting("long", LONG_BODY),
    posting("ok-3"),
    posting("ok-1"),  # line 9: the id again (the first is kept)
]


def load_rejects(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("SELECT file, line, reason_code, detail, raw, loaded_at FROM load_rejects ORDER BY line")
            )
        ]


def test_a_bad_line_is_rejected_with_its_reason_and_the_rest_of_the_file_loads(engine, tmp_path):
    path = write_lines(tmp_path / "feed.jsonl", BAD_FILE)
    stats = load_postings_stats(engine, path, batch_size=2)  # batches 1 and 2 committed before the bad line

    assert (stats.read, stats.inserted, stats.already_present, stats.duplicates_in_file) == (8, 4, 0, 1)
    assert (stats.rejected, stats.without_id) == (3, 1)
    assert [(r.line, r.reason_code) for r in stats.rejects] == [
        (3, "invalid_json"),
        (4, "not_an_object"),
        (5, "missing_id"),
    ]
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM job_postings ORDER BY id")).scalars().all()
    assert ids == ["long", "ok-1", "ok-2", "ok-3"]  # nothing after the bad line is lost

    rows = load_rejects(engine)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (str(path.resolve()), 3, "invalid_json"),
        (str(path.resolve()), 4, "not_an_object"),
        (str(path.resolve()), 5, "missing_id"),
    ]
    assert rows[0][4] == BAD_FILE[2] and "not valid JSON" in rows[0][3]  # the line itself is kept
    assert json.loads(rows[2][4]) == {"title": "Cook", "body": "Prepare meals."}
    assert {r[5] for r in rows} == {stats.loaded_at}

    again = load_postings_stats(engine, path)  # the same file again: nothing new, its rejects listed again
    assert (again.inserted, again.already_present, again.rejected) == (0, 4, 3)
    assert len(load_rejects(engine)) == 6


def test_records_without_an_id_are_rejected_with_a_reason(engine):
    stats = load_records(engine, [{"id": "a", "title": "Nurse"}, {"title": "No id"}, {"id": "  ", "title": "Blank"}])
    assert (stats.inserted, stats.rejected, stats.without_id) == (1, 2, 2)
    assert [(r.line, r.reason_code) for r in stats.rejects] == [(2, "missing_id"), (3, "missing_id")]
    assert [(r[0], r[1], r[2]) for r in load_rejects(engine)] == [
        ("records", 2, "missing_id"),
        ("records", 3, "missing_id"),
    ]


def test_a_csv_row_that_does_not_fit_its_header_is_rejected_by_line(engine, tmp_path):
    path = tmp_path / "feed.csv"
    path.write_text(
        "id,title,body\n"
        "c1,Cook,Prepare meals\n"
        "c2,Baker,Bake bread,an extra field\n"  # line 3
        ",No id,Some work\n"  # line 4
        'c3,Writer,"two\nlines"\n'  # lines 5-6
        "c4,Driver,Drive trucks\n",  # line 7
        encoding="utf-8",
    )
    stats = load_postings_stats(engine, path)
    assert stats.inserted == 3 and stats.rejected == 2
    assert [(r.line, r.reason_code) for r in stats.rejects] == [(3, "malformed_row"), (4, "missing_id")]
    assert "1 more fields" in stats.rejects[0].detail
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM job_postings ORDER BY id")).scalars().all() == ["c1", "c3", "c4"]


def test_the_load_report_shows_each_rejected_line(database_url, tmp_path, capsys):
    from jobclass.cli import main
    from jobclass.cli.db_commands import REJECTS_EXIT

    path = write_lines(tmp_path / "feed.jsonl", BAD_FILE)
    assert main(["db", "load-postings", str(path), "--database-url", database_url]) == REJECTS_EXIT
    out = capsys.readouterr().out
    assert "lines rejected" in out and "records without id" in out
    for line, reason in ((3, "invalid_json"), (4, "not_an_object"), (5, "missing_id")):
        assert re.search(rf"\b{line}\b\W+{reason}\b", out), out
    assert "load_rejects" in out


@pytest.mark.slow
def test_a_body_cut_at_the_length_limit_is_flagged_on_its_rows(engine, tiny_classifier, tmp_path):
    load_postings_stats(engine, write_lines(tmp_path / "feed.jsonl", BAD_FILE))
    out = tmp_path / "out"
    summary = classify_interval(engine, tiny_classifier, SINCE, utc_now(), top_k=2, out_dir=out)
    assert summary.status == "success" and summary.rows_predicted == 4
    with engine.connect() as conn:
        flags = conn.execute(sa.text("SELECT posting_id, rank, truncated FROM predictions ORDER BY posting_id, rank"))
        flagged = {(pid, rank): bool(truncated) for pid, rank, truncated in flags}
    assert flagged == {(pid, rank): pid == "long" for pid in ("long", "ok-1", "ok-2", "ok-3") for rank in (1, 2)}
    frame = pq.read_table(next(out.rglob("*.parquet"))).to_pandas()
    assert dict(zip(frame["posting_id"] + "/" + frame["rank"].astype(str), frame["truncated"], strict=True)) == {
        f"{pid}/{rank}": pid == "long" for pid in ("long", "ok-1", "ok-2", "ok-3") for rank in (1, 2)
    }


def test_init_schema_adds_the_truncated_column_to_an_older_database(database_url):
    """A database created before predictions.truncated gets the column (False on its old rows)."""
    engine = make_engine(database_url)
    old_schema = [
        statement.replace("truncated          BOOLEAN NOT NULL DEFAULT FALSE,", "")
        for statement in schema_statements(schema_path().read_text(encoding="utf-8"))
        if not statement.upper().startswith("ALTER TABLE")
    ]
    with engine.begin() as conn:
        for statement in old_schema:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("INSERT INTO job_postings (id, source, ingested_at) VALUES ('p1', 't', '2026')"))
        conn.execute(
            sa.text(
                "INSERT INTO predictions (posting_id, model_version, rank, onet_code, onet_title, score, soc6_code, "
                "soc6_score, major_group, major_group_score, needs_review, backoff_level, run_id, partition_date, "
                "predicted_at) VALUES ('p1', 'm', 1, '29-1141.00', 'Registered Nurses', 0.9, '29-1141', 0.9, '29', "
                "0.9, FALSE, 'detailed', 'r', '2026-01-01', '2026')"
            )
        )
    assert "truncated" not in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    init_schema(engine)
    init_schema(engine)  # idempotent: the column is there now
    assert "truncated" in {c["name"] for c in sa.inspect(engine).get_columns("predictions")}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT truncated FROM predictions")).scalars().all() in ([False], [0])
    engine.dispose()
