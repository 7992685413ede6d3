"""Loading a postings file whose lines are not all loadable (issue 29, item 5): ``jobclass db load-postings``
says so in its exit status, and a gzipped file cut short loads every line it holds and records the cut.

The command runs as an operator runs it, in its own process. The loads run on SQLite and, when
reachable, on PostgreSQL.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobclass.pipeline.ingest import load_postings_stats
from jobclass.store.engine import make_engine

REJECTS_EXIT = 3  # documented in `jobclass db load-postings --help`


def jobclass_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m jobclass ARGS`` in a process of its own (the environment carries the test's JOBCLASS_HOME)."""
    return subprocess.run([sys.executable, "-m", "jobclass", *args], capture_output=True, text=True, timeout=300)


def load_rejects(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT line, reason_code FROM load_rejects ORDER BY loaded_at, line")).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


def posting_ids(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT id FROM job_postings ORDER BY id")).scalars().all()
    finally:
        engine.dispose()


def records(n: int) -> list[dict[str, str]]:
    """``n`` postings whose bodies do not compress to nothing, so a cut lands inside the file."""
    return [
        {"id": f"p{i:04d}", "title": "Registered Nurse", "body": hashlib.sha256(str(i).encode()).hexdigest() * 6}
        for i in range(n)
    ]


def truncated_gzip(path: Path, text: str) -> int:
    """Write ``text`` gzipped and cut at half its compressed size; return how many whole lines the cut keeps."""
    compressed = gzip.compress(text.encode("utf-8"))
    cut = compressed[: len(compressed) // 2]
    path.write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)  # all a reader can get out of the cut file
    with pytest.raises(EOFError):  # a real truncated gzip: reading it to its end fails
        gzip.decompress(cut)
    return readable.count(b"\n")


# ================================================================= the exit status of load-postings


def test_load_postings_documents_its_exit_status_in_its_help():
    done = jobclass_cli("db", "load-postings", "--help")
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())
    assert "--allow-rejects" in help_text
    assert f"{REJECTS_EXIT} when the file was loaded but lines were rejected" in help_text


def test_load_postings_exits_non_zero_when_a_line_is_rejected_unless_rejects_are_allowed(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobclass.db'}"
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(json.dumps(r) + "\n" for r in records(3)), encoding="utf-8")
    bad = tmp_path / "feed.jsonl"
    lines = [json.dumps({"id": "a1", "title": "Cook"}), "{not json", json.dumps({"id": "a2", "title": "Baker"})]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = jobclass_cli("db", "load-postings", str(clean), "--database-url", url)
    assert done.returncode == 0, done.stdout + done.stderr

    done = jobclass_cli("db", "load-postings", str(bad), "--database-url", url)
    assert done.returncode == REJECTS_EXIT, done.stdout + done.stderr
    assert "invalid_json" in done.stdout and "--allow-rejects" in done.stdout
    assert load_rejects(url) == [(2, "invalid_json")]
    assert posting_ids(url) == ["a1", "a2", "p0000", "p0001", "p0002"]  # the rest of the file loaded

    done = jobclass_cli("db", "load-postings", str(bad), "--allow-rejects", "--database-url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "invalid_json" in done.stdout
    assert load_rejects(url) == [(2, "invalid_json"), (2, "invalid_json")]  # recorded all the same


# ====================================================================== a truncated .gz postings file


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_truncated_gzip_loads_every_whole_line_and_records_the_cut_as_a_reject(engine, tmp_path, caplog, kind):
    rows = records(400)
    if kind == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        text = "id,title,body\n" + "".join(f"{r['id']},{r['title']},{r['body']}\n" for r in rows)
    path = tmp_path / f"feed.{kind}.gz"
    whole_lines = truncated_gzip(path, text)
    loaded = whole_lines - (kind == "csv")  # the CSV header is a line, not a posting
    assert 0 < loaded < len(rows)

    with caplog.at_level(logging.WARNING, logger="jobclass.pipeline.ingest"):
        stats = load_postings_stats(engine, path, batch_size=50)

    assert (stats.inserted, stats.rejected) == (loaded, 1)
    cut_line = whole_lines + 1
    assert [(r.line, r.reason_code) for r in stats.rejects] == [(cut_line, "truncated_file")]
    assert stats.unread_rest == stats.rejects[0] and f"line {cut_line}" in stats.unread_rest.detail
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM job_postings ORDER BY id")).scalars().all()
        rejects = conn.execute(sa.text("SELECT file, line, reason_code FROM load_rejects")).all()
    assert ids == [r["id"] for r in rows[:loaded]]
    assert [tuple(r) for r in rejects] == [(str(path.resolve()), cut_line, "truncated_file")]
    assert any(
        r.levelno == logging.ERROR and f":{cut_line} truncated_file" in r.getMessage() for r in caplog.records
    ), caplog.text


def test_load_postings_says_a_gzip_file_was_truncated_and_where(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobclass.db'}"
    path = tmp_path / "feed.jsonl.gz"
    whole_lines = truncated_gzip(path, "".join(json.dumps(r) + "\n" for r in records(400)))

    done = jobclass_cli("db", "load-postings", str(path), "--database-url", url)
    assert done.returncode == REJECTS_EXIT, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "truncated_file" in out and f"line {whole_lines + 1} and any after it are missing" in out
    assert f":{whole_lines + 1} truncated_file" in done.stderr  # the log line
    assert load_rejects(url) == [(whole_lines + 1, "truncated_file")]
    assert len(posting_ids(url)) == whole_lines


def test_a_file_named_gz_that_is_not_gzip_is_one_reject_not_a_crash(engine, tmp_path):
    path = tmp_path / "feed.jsonl.gz"
    path.write_text(json.dumps({"id": "a1", "title": "Cook"}) + "\n", encoding="utf-8")
    stats = load_postings_stats(engine, path)
    assert (stats.inserted, [(r.line, r.reason_code) for r in stats.rejects]) == (0, [(1, "corrupt_file")])
