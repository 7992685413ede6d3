"""Hostile postings (issue 3, acceptance 3): each is predicted or rejected with the right reason,
and read = predicted + rejected, both on a batch and end to end through the database."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from jobclass.pipeline.validation import (
    DUPLICATE_ID,
    EMPTY,
    INVALID_ENCODING,
    MAX_BODY_CHARS,
    MISSING_ID,
    NOT_TEXT,
    validate_postings,
)
from jobclass.postings.text import decode_text, storable_text

PREDICTED = "predicted"
ONE_MB_BODY = "Design, build and test web applications in Python. " * 20_200  # just over 1 MB

# (id, title, body, expected outcome). Bytes stand for input that is not valid UTF-8.
HOSTILE: list[tuple[str | None, object, object, str]] = [
    ("h01-empty-strings", "", "", EMPTY),
    ("h02-nulls", None, None, EMPTY),
    ("h03-whitespace", "  \t ", "\n\n  \r\n", EMPTY),
    ("h04-html-only", "<div><br/></div>", "<p>&nbsp;</p><img src='logo.png'/>", EMPTY),
    ("h05-script-only", "<script>alert('x')</script>", "<style>p {color: red}</style>", EMPTY),
    ("h06-entities-only", "&nbsp;&nbsp;", "&#160;", EMPTY),
    (
        "h07-html-with-text",
        "<b>Registered Nurse</b>",
        "<ul><li>Care for patients</li><li>Give medication</li></ul>",
        PREDICTED,
    ),
    ("h08-1mb-body", "Software Developer", ONE_MB_BODY, PREDICTED),
    ("h09-1mb-title", "Accountant " * 100_000, "Prepare financial statements.", PREDICTED),
    ("h10-emoji-in-text", "Barista \u2615", "Make great coffee \U0001f389 and serve customers \U0001f600", PREDICTED),
    ("h11-emoji-only", "\U0001f389\U0001f680", "\U0001f600\U0001f600\U0001f600", NOT_TEXT),
    ("h12-latin1-bytes", b"Caf\xe9 Manager", b"Run the caf\xe9, hire and train staff, order supplies.", PREDICTED),
    ("h13-undecodable-bytes", b"\xff\xfe\xfd\xfc\xfb", bytes(range(0x80, 0x100)), INVALID_ENCODING),
    ("h14-truncated-utf8", b"Ingenieur \xe2\x82", b"Wartung von Anlagen", PREDICTED),
    ("h15-control-chars", "\x00\x01\x02\x03\x04", "\x05\x06\x07\x08\x0e\x0f", NOT_TEXT),
    (
        "h16-binary-png",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15",
        NOT_TEXT,
    ),
    (
        "h17-sql-injection",
        "Robert'); DROP TABLE job_postings;--",
        "' OR '1'='1'; DELETE FROM predictions; --",
        PREDICTED,
    ),
    (
        "h18-sql-union",
        'Data Analyst" UNION SELECT * FROM model_versions --',
        "1; UPDATE model_versions SET status='champion'",
        PREDICTED,
    ),
    ("h19-french", "Ing\u00e9nieur logiciel", "Concevoir et d\u00e9velopper des applications web.", PREDICTED),
    (
        "h20-chinese",
        "\u8f6f\u4ef6\u5de5\u7a0b\u5e08",
        "\u8d1f\u8d23\u8f6f\u4ef6\u5f00\u53d1\u548c\u7ef4\u62a4",
        PREDICTED,
    ),
    (
        "h21-russian",
        "\u0411\u0443\u0445\u0433\u0430\u043b\u0442\u0435\u0440",
        "\u0412\u0435\u0434\u0435\u043d\u0438\u0435 \u0443\u0447\u0435\u0442\u0430",
        PREDICTED,
    ),
    (
        "h22-arabic",
        "\u0645\u0645\u0631\u0636\u0629",
        "\u0631\u0639\u0627\u064a\u0629 \u0627\u0644\u0645\u0631\u0636\u0649",
        PREDICTED,
    ),
    ("h23-digits-only", "12345", "67890 !!! ???", NOT_TEXT),
    ("h24-punctuation-only", "!!!", "---***--- ... ###", NOT_TEXT),
    ("h25-title-only", "Electrician", None, PREDICTED),
    ("h26-body-only", None, "Install and repair electrical wiring in commercial buildings.", PREDICTED),
    ("h27-mojibake", "Caf\u00c3\u00a9 Manager", "Supervise the caf\u00c3\u00a9 team.", PREDICTED),
    ("h28-lone-surrogate", "Nurse \ud83d", "Care for patients.", PREDICTED),
    ("h29-zero-width-only", "\u200b\u200b", "\u200b", NOT_TEXT),
    ("h30-newline-injection", "Cook\r\nX-Injected: 1", "Prepare meals.\r\n\r\n<html>", PREDICTED),
]
# Only a batch can hold these: the database keys postings by id.
BATCH_ONLY: list[tuple[str | None, object, object, str]] = [
    ("h10-emoji-in-text", "Dishwasher", "Wash dishes", DUPLICATE_ID),
    ("h01-empty-strings", "Welder", "Weld steel", DUPLICATE_ID),
    (None, "Plumber", "Fix pipes", MISSING_ID),
]


def hostile_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["posting_id", "title", "body", "expected"]).drop(columns="expected")


def outcomes(rows, predicted_ids: set[str], rejects: pd.DataFrame) -> list[tuple[str | None, str]]:
    """What happened to each input row, in input order (a repeated id: its later rows)."""
    queue: dict[str, list[str]] = defaultdict(list)
    for pid, reason in zip(rejects["posting_id"], rejects["reason_code"]):
        queue[pid].append(reason)
    seen: set[str] = set()
    got = []
    for pid, *_ in rows:
        key = pid or ""
        if key in predicted_ids and key not in seen:
            got.append((pid, PREDICTED))
        else:
            got.append((pid, queue[key].pop(0) if queue[key] else "LOST"))
        seen.add(key)
    return got


def test_at_least_25_hostile_postings_cover_the_issue():
    assert len(HOSTILE) + len(BATCH_ONLY) >= 25
    assert {e for *_, e in HOSTILE + BATCH_ONLY} >= {PREDICTED, EMPTY, NOT_TEXT, INVALID_ENCODING, DUPLICATE_ID}


def test_validation_gives_each_hostile_posting_its_reason():
    rows = HOSTILE + BATCH_ONLY
    valid, rejected = validate_postings(hostile_frame(rows))
    assert len(valid) + len(rejected) == len(rows)
    got = outcomes(rows, set(valid["posting_id"]), rejected)
    assert got == [(pid, expected) for pid, _, _, expected in rows]
    long_body = valid.set_index("posting_id").loc["h08-1mb-body"]
    assert long_body["truncated"] and len(long_body["body"]) == MAX_BODY_CHARS
    assert valid.set_index("posting_id").loc["h12-latin1-bytes", "title"] == "Caf\u00e9 Manager"  # repaired
    assert set(rejected.columns) == {"posting_id", "reason_code", "detail"} and rejected["detail"].map(bool).all()


def test_decoding_never_raises_and_storable_text_fits_postgres():
    for value in [b"\x00\xff", "\udcff\ud800x", float("nan"), None, 12, b"", bytearray(b"ok")]:
        text = storable_text(value)
        if text is not None:
            assert "\x00" not in text
            text.encode("utf-8")  # valid Unicode: no lone surrogates left
    assert decode_text(b"na\xefve") == "na\u00efve"


def write_hostile_jsonl(path: Path, rows) -> Path:
    """One JSON object per line; bytes fields are written raw, so the file holds invalid UTF-8."""
    with path.open("wb") as fh:
        for pid, title, body, _ in rows:
            record = {"id": pid, "title": title, "body": body}
            if any(isinstance(v, bytes) for v in (title, body)):
                text = {
                    k: v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v for k, v in record.items()
                }
                fh.write(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n")
            else:
                fh.write(json.dumps(record).encode("ascii") + b"\n")
    return path


@pytest.mark.slow
def test_hostile_batch_is_predicted_or_rejected(tiny_classifier):
    from jobclass.pipeline.interval import classify_frame

    rows = HOSTILE + BATCH_ONLY
    predictions, rejects = classify_frame(tiny_classifier, hostile_frame(rows), top_k=3)
    predicted = set(predictions["posting_id"])
    assert len(predicted) + len(rejects) == len(rows)  # read = predicted + rejected
    assert outcomes(rows, predicted, rejects) == [(pid, expected) for pid, _, _, expected in rows]
    assert predictions.groupby("posting_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()


@pytest.mark.slow
def test_hostile_postings_end_to_end_through_the_database(database_url, tiny_classifier, tmp_path):
    from jobclass.pipeline.ingest import load_postings_stats
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    engine = make_engine(database_url)
    init_schema(engine)
    path = write_hostile_jsonl(tmp_path / "hostile.jsonl", HOSTILE + BATCH_ONLY[:2])
    stats = load_postings_stats(engine, path, ingested_at="2026-11-25T08:00:00Z")
    assert (stats.inserted, stats.duplicates_in_file) == (len(HOSTILE), 2)  # a file's repeated id: first kept

    summary = classify_interval(
        engine, tiny_classifier, "2026-11-25", "2026-11-26", top_k=2, chunk_size=8, out_dir=tmp_path / "out"
    )
    assert summary.status == "success"
    assert summary.rows_read == len(HOSTILE) == summary.rows_predicted + summary.rows_rejected
    with engine.connect() as conn:
        predicted = {r[0] for r in conn.execute(sa.text("SELECT posting_id FROM predictions WHERE rank = 1"))}
        rejected = dict(conn.execute(sa.text("SELECT posting_id, reason_code FROM rejected_postings")).all())
        run = conn.execute(
            sa.text("SELECT rows_read, rows_predicted, rows_rejected, status FROM prediction_runs")
        ).one()
        stored = conn.execute(sa.text("SELECT title FROM job_postings WHERE id = 'h12-latin1-bytes'")).scalar_one()
    engine.dispose()
    got = {pid: PREDICTED if pid in predicted else rejected.get(pid, "LOST") for pid, *_ in HOSTILE}
    assert got == {pid: expected for pid, _, _, expected in HOSTILE}
    assert tuple(run) == (len(HOSTILE), len(predicted), len(rejected), "success")
    assert stored == "Caf\u00e9 Manager"
    assert sum(1 for _ in (tmp_path / "out").rglob("*.parquet")) == summary.chunks
