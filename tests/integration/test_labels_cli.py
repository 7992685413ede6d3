"""``jobclass labels export`` and ``jobclass labels import`` (issue 18): a coder exports the queue,
codes it offline, imports it; bad rows are rejected one by one with a reason, and nothing else is lost."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from review_fixtures import MODEL, OLD_RUN, seed_review_queue

from jobclass.cli import main
from jobclass.store.labels import NOT_CODABLE, current_labels, label_history, read_reviewed_labels


@pytest.fixture
def queue(engine, taxonomy):
    seed_review_queue(engine, taxonomy)
    return engine


def _export(database_url: str, path: Path, *extra: str) -> list[dict[str, str]]:
    assert main(["labels", "export", "--database-url", database_url, "-o", str(path), *extra]) == 0
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_export_then_import_round_trip(queue, database_url, tmp_path, capsys):
    impact = _export(database_url, tmp_path / "impact.csv")
    assert [r["posting_id"] for r in impact] == ["o2", "n2", "n1", "o1"]  # no shared titles: the least certain first
    rows = _export(database_url, tmp_path / "queue.csv", "--order", "newest")
    assert [r["posting_id"] for r in rows] == ["n2", "n1", "o2", "o1"]
    n1 = rows[1]
    assert n1["title"] == "Staff Nurse - ICU" and "Administer medications" in n1["body"]
    assert n1["suggestions"].startswith("1. 29-1141.00 Registered Nurses (0.41); 2. 29-1171.00")
    assert n1["onet_code"] == "" and n1["model_version"] == MODEL
    assert [r["posting_id"] for r in _export(database_url, tmp_path / "old.csv", "--run", OLD_RUN)] == ["o2", "o1"]

    rows[0]["onet_code"] = "15-1252.00"  # the top suggestion
    rows[1]["onet_code"] = "29-1171.00"  # the second
    rows[2]["onet_code"] = "Not codable"
    rows[2]["note"] = "no duties"
    # rows[3] left blank: skipped, not lost
    path = _write(tmp_path / "coded.csv", rows)
    capsys.readouterr()
    assert main(["labels", "import", str(path), "--database-url", database_url, "--reviewer", "carol"]) == 0
    assert "recorded 3 decisions; 0 unchanged, 1 blank (skipped), 0 rejected" in capsys.readouterr().err

    current = current_labels(queue, ["n1", "n2", "o1", "o2"])
    assert set(current) == {"n1", "n2", "o2"}
    assert (current["n1"]["onet_code"], current["n1"]["suggested_rank"], current["n1"]["reviewer"]) == ("29-1171.00", 2, "carol")
    assert current["n1"]["model_version"] == MODEL
    assert (current["o2"]["decision"], current["o2"]["note"]) == (NOT_CODABLE, "no duties")
    assert sorted(read_reviewed_labels(queue)["posting_id"]) == ["n1", "n2"]
    assert [r["posting_id"] for r in _export(database_url, tmp_path / "left.csv")] == ["o1"]

    # Importing the same file again changes nothing; a changed code is a new decision, history kept.
    assert main(["labels", "import", str(path), "--database-url", database_url, "--reviewer", "carol"]) == 0
    assert "recorded 0 decisions; 3 unchanged" in capsys.readouterr().err
    rows[1]["onet_code"] = "29-1141.00"
    assert main(["labels", "import", str(_write(path, rows)), "--database-url", database_url, "--reviewer", "dan"]) == 0
    assert [(h["reviewer"], h["onet_code"]) for h in label_history(queue, "n1")] == [
        ("carol", "29-1171.00"),
        ("dan", "29-1141.00"),
    ]


def test_bad_rows_are_rejected_one_by_one_and_the_rest_recorded(queue, database_url, tmp_path, capsys):
    rows = [
        {"posting_id": "n1", "onet_code": "29-1141.00", "reviewer": "", "note": ""},  # good
        {"posting_id": "n2", "onet_code": "99-9999.99", "reviewer": "", "note": ""},  # unknown code
        {"posting_id": "nope", "onet_code": "29-1141.00", "reviewer": "", "note": ""},  # unknown posting
        {"posting_id": "o1", "onet_code": "13-2011.00", "reviewer": "erin", "note": ""},  # good, own reviewer
        {"posting_id": "o1", "onet_code": "13-2011.00", "reviewer": "erin", "note": ""},  # repeat: dropped alone
        {"posting_id": "o2", "onet_code": "11-1021.00", "reviewer": "", "note": ""},  # conflicting duplicates:
        {"posting_id": "o2", "onet_code": "13-1111.00", "reviewer": "", "note": "multi\nline"},  # both rejected
        {"posting_id": "", "onet_code": "29-1141.00", "reviewer": "", "note": ""},  # no id
    ]
    path = _write(tmp_path / "bad.csv", rows)
    capsys.readouterr()
    assert main(["labels", "import", str(path), "--database-url", database_url, "--dry-run"]) == 1
    assert current_labels(queue, ["n1", "o1"]) == {}  # a dry run records nothing
    assert main(["labels", "import", str(path), "--database-url", database_url, "--reviewer", "fay"]) == 1
    err = capsys.readouterr().err
    assert "recorded 2 decisions; 0 unchanged, 0 blank (skipped), 6 rejected" in err
    assert "line 3 (n2): unknown O*NET-SOC code '99-9999.99'" in err
    assert "line 4 (nope): unknown posting id 'nope'" in err
    assert "line 6 (o1): duplicate of line 5" in err
    assert "line 7 (o2): duplicate: conflicting codes for this posting on lines 7, 8" in err
    assert "line 8 (o2): duplicate: conflicting codes" in err  # the row starts on line 8 (its note spans two)
    assert "line 10 (no id): no posting_id" in err
    current = current_labels(queue, ["n1", "n2", "o1", "o2"])
    assert {k: (v["onet_code"], v["reviewer"]) for k, v in current.items()} == {
        "n1": ("29-1141.00", "fay"),
        "o1": ("13-2011.00", "erin"),
    }


def test_a_file_without_the_required_columns_is_refused(queue, database_url, tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("id,code\nn1,29-1141.00\n", encoding="utf-8")
    assert main(["labels", "import", str(path), "--database-url", database_url]) == 2
    assert "no posting_id, onet_code column" in capsys.readouterr().err


@pytest.mark.slow
def test_the_queue_of_a_real_classify_run(engine, database_url, tiny_classifier, tiny_bundle_path, tmp_path):
    """What `make main` leaves (USAJOBS postings classified by the real path): the page lists them
    with their suggestions and evidence, a decision is recorded, and the export has the rest."""
    import gzip

    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.pipeline.ingest import load_postings_file
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store import registry

    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        sample = "".join(line for _, line in zip(range(12), fh))
    (tmp_path / "sample.jsonl").write_text(sample, encoding="utf-8")
    load_postings_file(engine, tmp_path / "sample.jsonl", ingested_at="2026-11-25T09:30:00Z")
    registry.register_model(engine, tiny_classifier.version, tiny_bundle_path, {"acc@1": 0.1}, None, status="champion")
    summary = classify_interval(engine, tiny_classifier, "2026-11-25", "2026-11-26", top_k=5, out_dir=tmp_path / "out")
    assert summary.status == "success"

    exported = _export(database_url, tmp_path / "queue.csv")
    assert exported, "the tiny model flags postings for review"
    with TestClient(create_app(engine_factory=lambda: engine, auth=None)) as client:
        page = client.get("/review")
        assert page.status_code == 200 and f"{len(exported)} postings flagged for review" in page.text
        assert page.text.count('class="accept"') == 5 * min(len(exported), 10) and "nearest title: " in page.text
        first = exported[0]
        runs = client.get("/review", params={"run": summary.run_id})
        assert first["posting_id"] in runs.text
        body = {"posting_id": first["posting_id"], "decision": "coded", "model_version": first["model_version"]}
        code = first["suggestions"].split(" ")[1]
        response = client.post("/review/decisions", json={**body, "onet_code": code})
        assert response.status_code == 200, response.text
        assert (response.json()["suggested_rank"], response.json()["reviewer"]) == (1, "anonymous")
        assert client.post("/review/decisions", json={**body, "onet_code": "00-0000.00"}).status_code == 422
        missing = {**body, "posting_id": "nope", "onet_code": code}
        assert client.post("/review/decisions", json=missing).status_code == 404
    assert len(_export(database_url, tmp_path / "left.csv")) == len(exported) - 1


def test_the_export_never_hands_a_spreadsheet_a_formula(queue, database_url, tmp_path):
    """CSV injection: a title or body that starts like a formula is written with a leading apostrophe."""
    import sqlalchemy as sa

    from jobclass.pipeline.label_files import neutralise_formula

    with queue.begin() as conn:
        conn.execute(sa.text("UPDATE job_postings SET title = '=HYPERLINK(\"http://x\",\"click\")' WHERE id = 'n1'"))
        conn.execute(sa.text("UPDATE job_postings SET body = '@SUM(1+1)' WHERE id = 'n2'"))
    rows = {r["posting_id"]: r for r in _export(database_url, tmp_path / "queue.csv")}
    assert rows["n1"]["title"] == "'=HYPERLINK(\"http://x\",\"click\")"
    assert rows["n2"]["body"] == "'@SUM(1+1)"
    assert rows["o1"]["title"] == "Accountant"  # ordinary text is untouched
    assert [neutralise_formula(c) for c in ["+1", "-2", "\tx", "\rx", "a=b", "", None]] == ["'+1", "'-2", "'\tx", "'\rx", "a=b", "", None]
