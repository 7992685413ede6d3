"""The labels store (issue 18): the review queue with its filters and paging, decisions with their
history, and what the retrain reads from them; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from review_fixtures import MODEL, NEW_RUN, OLD_RUN, seed_review_queue

from jobclass.store.engine import make_engine
from jobclass.store.labels import (
    CODED,
    NOT_CODABLE,
    Decision,
    QueueFilter,
    current_labels,
    known_posting_ids,
    label_history,
    read_reviewed_labels,
    record_decision,
    record_decisions,
    review_model_versions,
    review_queue,
    review_runs,
    top_predictions,
)
from jobclass.store.schema import init_schema, schema_path, schema_statements


@pytest.fixture
def queue(engine, taxonomy):
    seed_review_queue(engine, taxonomy)
    return engine


def _ids(engine, filters: QueueFilter | None = None, limit: int = 50, offset: int = 0) -> list[str]:
    return [row["posting_id"] for row in review_queue(engine, filters or QueueFilter(order="newest"), limit, offset)[0]]


def test_the_queue_lists_flagged_postings_newest_run_first_least_confident_first(queue):
    rows, total = review_queue(queue, QueueFilter(order="newest"), 50)
    assert [r["posting_id"] for r in rows] == ["n2", "n1", "o2", "o1"]  # n3 is not flagged
    assert total == 4
    assert rows[0]["run_id"] == NEW_RUN and rows[0]["model_version"] == MODEL and rows[0]["title"] == "Software Engineer II"
    assert rows[0]["body"].startswith("You will design")


def test_the_queue_filters_and_pages(queue):
    assert _ids(queue, QueueFilter(order="newest", run_id=OLD_RUN)) == ["o2", "o1"]
    assert _ids(queue, QueueFilter(order="newest", major_group="29")) == ["n1"]
    assert _ids(queue, QueueFilter(order="newest", model_version="other")) == []
    assert _ids(queue, QueueFilter(order="newest", model_version=MODEL)) == ["n2", "n1", "o2", "o1"]
    assert _ids(queue, QueueFilter(order="newest", score_min=0.3, score_max=0.5)) == ["n2", "n1"]
    assert _ids(queue, QueueFilter(order="newest", score_min=0.5)) == ["o1"]
    page, total = review_queue(queue, QueueFilter(order="newest"), limit=3, offset=3)
    assert [r["posting_id"] for r in page] == ["o1"] and total == 4
    assert review_queue(queue, QueueFilter(order="newest"), limit=3, offset=10) == ([], 0)
    with pytest.raises(ValueError, match="state"):
        review_queue(queue, QueueFilter(order="newest", state="nope"), 10)


def test_top_predictions_carry_titles_scores_and_evidence(queue):
    top = top_predictions(queue, ["n1", "o1"])
    assert set(top) == {("n1", MODEL), ("o1", MODEL)}
    n1 = top[("n1", MODEL)]
    assert [p["rank"] for p in n1] == [1, 2, 3, 4, 5]
    assert n1[0]["onet_code"] == "29-1141.00" and n1[0]["onet_title"] == "Registered Nurses"
    assert n1[0]["evidence"] == "Registered Nurses (title)" and n1[0]["score"] == pytest.approx(0.41)
    assert top_predictions(queue, []) == {}


def test_a_second_decision_replaces_the_first_and_keeps_it_in_the_history(queue):
    first = record_decision(queue, Decision("n1", CODED, "29-1141.00", "alice", MODEL, 1))
    assert first["reviewer"] == "alice" and first["suggested_rank"] == 1 and first["model_version"] == MODEL
    assert first["created_at"].endswith("Z")
    assert _ids(queue) == ["n2", "o2", "o1"]  # decided: out of the pending queue
    assert _ids(queue, QueueFilter(order="newest", state="decided")) == ["n1"]
    assert len(_ids(queue, QueueFilter(order="newest", state="all"))) == 4

    record_decision(queue, Decision("n1", NOT_CODABLE, "", "bob", MODEL, None, "an agency blurb"))
    current = current_labels(queue, ["n1", "n2"])
    assert list(current) == ["n1"]
    assert (current["n1"]["decision"], current["n1"]["onet_code"], current["n1"]["reviewer"]) == (NOT_CODABLE, "", "bob")
    history = label_history(queue, "n1")
    assert [(h["reviewer"], h["decision"], h["superseded_by"]) for h in history] == [
        ("alice", CODED, "bob"),
        ("bob", NOT_CODABLE, None),
    ]
    # The same reviewer choosing the same code again is a new decision, not a key clash.
    record_decision(queue, Decision("n1", CODED, "29-1141.00", "alice", MODEL, 1))
    record_decision(queue, Decision("n1", CODED, "29-1141.00", "alice", MODEL, 1))
    assert len(label_history(queue, "n1")) == 4
    with queue.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM posting_labels WHERE posting_id = 'n1'")).scalar() == 1


def test_the_retrain_reads_only_current_coded_labels(queue):
    record_decisions(
        queue,
        [
            Decision("n1", CODED, "29-1141.00", "alice", MODEL, 1),
            Decision("n2", CODED, "15-1252.00", "alice", MODEL, 1),
            Decision("o1", CODED, "13-2011.00", "alice", MODEL, 1),
        ],
    )
    record_decision(queue, Decision("n2", NOT_CODABLE, "", "bob"))  # supersedes a coded label
    record_decision(queue, Decision("o1", CODED, "13-2082.00", "bob", MODEL, 2))  # supersedes with another code
    labels = read_reviewed_labels(queue)
    assert labels.to_dict("records") == [
        {"posting_id": "n1", "title": "Staff Nurse - ICU", "body": labels.loc[0, "body"], "onet_code": "29-1141.00"},
        {"posting_id": "o1", "title": "Accountant", "body": "Prepare tax returns for clients.", "onet_code": "13-2082.00"},
    ]


def test_a_decision_is_validated():
    with pytest.raises(ValueError, match="decision must be"):
        Decision("n1", "maybe", "29-1141.00", "alice")
    with pytest.raises(ValueError, match="needs a code"):
        Decision("n1", CODED, "", "alice")
    with pytest.raises(ValueError, match="needs a code"):
        Decision("n1", NOT_CODABLE, "29-1141.00", "alice")
    with pytest.raises(ValueError, match="reviewer"):
        Decision("n1", CODED, "29-1141.00", "")


def test_runs_postings_and_versions_for_the_filters(queue):
    assert [r["run_id"] for r in review_runs(queue)] == [NEW_RUN, OLD_RUN]
    assert review_model_versions(queue) == [MODEL]
    assert known_posting_ids(queue, ["n1", "zz", "o2", "n1"]) == {"n1", "o2"}


def test_init_schema_upgrades_posting_labels_of_an_older_database(database_url):
    """A database from before the review page: posting_labels without decision, model_version and
    suggested_rank, and no history table. Its labels stay, coded, and are still read by the retrain."""
    engine = make_engine(database_url)
    new_columns = ("decision        TEXT NOT NULL DEFAULT 'coded',", "model_version   TEXT,", "suggested_rank  INTEGER,")
    old_schema = []
    for statement in schema_statements(schema_path().read_text(encoding="utf-8")):
        if statement.upper().startswith("ALTER TABLE") or "posting_label_history" in statement:
            continue
        if statement.startswith("CREATE TABLE IF NOT EXISTS posting_labels"):
            for column in new_columns:
                statement = statement.replace(column, "")
        old_schema.append(statement)
    with engine.begin() as conn:
        for statement in old_schema:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("INSERT INTO job_postings (id, title, source, ingested_at) VALUES ('p1', 'RN', 't', '2026')"))
        conn.execute(
            sa.text(
                "INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at) "
                "VALUES ('p1', '29-1141.00', 'old', '2026-01-01T00:00:00.000000Z')"
            )
        )
    columns = {c["name"] for c in sa.inspect(engine).get_columns("posting_labels")}
    assert "decision" not in columns and "posting_label_history" not in sa.inspect(engine).get_table_names()
    init_schema(engine)
    init_schema(engine)  # idempotent
    columns = {c["name"] for c in sa.inspect(engine).get_columns("posting_labels")}
    assert {"decision", "model_version", "suggested_rank"} <= columns
    assert read_reviewed_labels(engine)["onet_code"].tolist() == ["29-1141.00"]
    record_decision(engine, Decision("p1", NOT_CODABLE, "", "new"))  # the old label goes to the history
    assert [h["reviewer"] for h in label_history(engine, "p1")] == ["old", "new"]
    assert read_reviewed_labels(engine).empty
    engine.dispose()


def test_the_predictions_browser_lists_every_posting_and_searches_id_code_and_title(queue):
    every = QueueFilter(order="newest", state="all", flagged_only=False)
    assert sorted(_ids(queue, every)) == ["n1", "n2", "n3", "o1", "o2"]  # n3 was not flagged
    def search(text: str) -> list[str]:
        return sorted(_ids(queue, QueueFilter(order="newest", state="all", flagged_only=False, search=text)))

    assert search("Welder") == ["n3"]
    assert search("o1") == ["o1"]  # a posting id
    assert search("29-1141") == ["n1"]  # a code prefix of the top-1 prediction
    assert search("software ENGINEER") == ["n2"]  # title words, any case
    assert search("100%") == [] and search("_") == []  # LIKE wildcards are matched literally
    assert _ids(queue, QueueFilter(order="newest", state="all", search="Welder")) == []  # the review queue: flagged only
