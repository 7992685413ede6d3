"""The review queue paged by keyset (issue 29, item 3): walking the cursors forwards and back gives
every row of the queue once, in its order, on SQLite and PostgreSQL; the review page and the
export page that way too; old page-number links still work."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime
from html import unescape

import pytest
import sqlalchemy as sa

from jobclass.store.labels import (
    QueueFilter,
    count_queue,
    cursor_at,
    decode_cursor,
    queue_page,
    review_queue,
)

MODEL, NEWER_MODEL = "m1", "m2"
RUNS = [  # run_id, model, started_at, predicted_at; r3 was started last though its interval is the oldest
    ("r1", MODEL, "2026-12-01T03:00:00.000000Z", "2026-12-01T02:00:00.000000Z"),
    ("r2", MODEL, "2026-12-02T03:00:00.000000Z", "2026-12-02T02:00:00.000000Z"),
    ("r3", MODEL, "2026-12-05T03:00:00.000000Z", "2026-11-30T02:00:00.000000Z"),
    ("r4", NEWER_MODEL, "2026-12-03T03:00:00.000000Z", "2026-12-03T02:00:00.000000Z"),
]
ORPHAN_RUN = ("r0", MODEL, None, "2026-12-04T02:00:00.000000Z")  # no prediction_runs row (unless given one)
# With "runs": r0 and r9 get their rows, r9 started when r2 did (a tie that run_id breaks); every
# prediction then has its run's row, and "newest" walks the runs (else it sorts the whole queue).
LATE_RUNS = [("r0", MODEL, "2026-12-04T05:00:00.000000Z", None), ("r9", "m3", RUNS[1][2], None)]
KEYS = ["nurse", "welder", "clerk", "analyst", None]
# When every label was decided: after r1 and r2 started, before the others. A pending row of r1 or r2
# whose memory key a labelled posting has awaits the memory (settles 0 in "impact").
DECIDED_AT = "2026-12-02T12:00:00.000000Z"


def _seed(engine: sa.Engine, n: int = 70, seed: int = 7) -> list[dict]:
    """n postings with top-2 predictions: ties in score and key, rows without a key, decided postings,
    postings predicted again by a newer model (and one tie in predicted_at across models)."""
    rng = random.Random(seed)
    runs = [*RUNS, ORPHAN_RUN]
    postings, predictions, labels = [], [], []
    for i in range(n):
        pid = f"p{i:03d}"
        postings.append({"id": pid, "title": f"Title {i}", "body": "Do the work.", "source": "t", "at": "2026-12-01T00:00:00.000000Z"})
        first = runs[i % 4] if i % 13 else ORPHAN_RUN
        chosen = [first] + ([RUNS[3]] if i % 7 == 0 and first[1] != NEWER_MODEL else [])
        for run_id, model, _, predicted_at in chosen:
            score = rng.choice([0.1, 0.2, 0.3, 0.3, 0.45])
            key = rng.choice(KEYS)
            for rank in (1, 2):
                predictions.append({
                    "p": pid, "m": model, "r": rank, "c": f"1{rank}-1011.00", "s": score / rank,
                    "flag": rng.random() < 0.8, "run": run_id, "at": predicted_at, "key": key,
                })
        if i % 5 == 0:
            labels.append({"p": pid, "at": DECIDED_AT})
    # a tie: p001's newer model predicted at the same instant as its first run
    predictions += [
        {"p": "p001", "m": "m3", "r": r, "c": "15-1252.00", "s": 0.3 / r, "flag": True, "run": "r9",
         "at": RUNS[1][3], "key": "nurse"} for r in (1, 2)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, partition_date, "
                    "status, started_at) VALUES (:r, :s, :s, :m, '2026-12-01', 'success', :s)"),
            [{"r": r, "m": m, "s": s} for r, m, s, _ in RUNS],
        )
        conn.execute(
            sa.text("INSERT INTO job_postings (id, title, body, source, ingested_at) VALUES (:id, :title, :body, :source, :at)"),
            postings,
        )
        conn.execute(
            sa.text(
                "INSERT INTO predictions (posting_id, model_version, rank, onet_code, onet_title, score, soc6_code, "
                "soc6_score, major_group, major_group_score, needs_review, backoff_level, run_id, partition_date, "
                "predicted_at, memory_key) VALUES (:p, :m, :r, :c, 'x', :s, '11-1011', :s, '11', :s, :flag, "
                "'detailed', :run, '2026-12-01', :at, :key)"
            ),
            predictions,
        )
        conn.execute(
            sa.text("INSERT INTO posting_labels (posting_id, onet_code, reviewer, created_at) "
                    "VALUES (:p, '11-1011.00', 'alice', :at)"),
            labels,
        )
    return predictions


def _expected(predictions: list[dict], filters: QueueFilter, labelled: set[str], started: dict) -> list[tuple[str, str, int]]:
    """The queue computed in Python: (posting_id, model_version, settles) in the order of the filters."""
    top = [p for p in predictions if p["r"] == 1]
    latest = {}
    for p in top:
        latest[p["p"]] = max(latest.get(p["p"], ""), p["at"])
    rows = [
        p for p in top
        if p["at"] == latest[p["p"]]
        and (p["flag"] or not filters.flagged_only)
        and (filters.state == "all" or (p["p"] in labelled) == (filters.state == "decided"))
    ]
    per_key: dict = {}
    settles: dict = {}
    if filters.order == "impact":
        decided_keys = {p["key"] for p in top if p["p"] in labelled and p["key"] is not None}
        awaiting = {id(p) for p in rows if p["key"] in decided_keys and DECIDED_AT > (started.get(p["run"]) or p["at"])}
        for p in rows:
            if id(p) not in awaiting:
                per_key[p["key"]] = per_key.get(p["key"], 0) + 1
        settles = {id(p): 0 if id(p) in awaiting else per_key[p["key"]] if p["key"] is not None else 1 for p in rows}
    else:
        for p in rows:
            per_key[p["key"]] = per_key.get(p["key"], 0) + 1
        settles = {id(p): per_key[p["key"]] if p["key"] is not None else 1 for p in rows}
    if filters.order == "impact":
        rows.sort(key=lambda p: (-settles[id(p)], p["key"] or "", p["s"], p["p"], p["m"]))
    else:
        rows.sort(key=lambda p: (p["run"], p["s"], p["p"]))
        rows.sort(key=lambda p: started.get(p["run"]) or p["at"], reverse=True)
    return [(p["p"], p["m"], settles[id(p)]) for p in rows]


def _walk(engine, filters: QueueFilter, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        page = queue_page(engine, filters, limit, after=cursor, count=not pages)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


FILTERS = [
    QueueFilter(order="impact"),
    QueueFilter(order="newest"),
    QueueFilter(order="newest", state="all", flagged_only=False),
    QueueFilter(order="impact", state="all", flagged_only=False),
    QueueFilter(order="impact", state="decided", flagged_only=False),
]


def _now(monkeypatch, when: str) -> None:
    """The queue's clock (which decisions are recent enough to await the memory)."""
    import jobclass.store.labels as labels

    monkeypatch.setattr(labels, "utc_now", lambda: datetime.fromisoformat(when).replace(tzinfo=UTC))


@pytest.fixture(params=["orphans", "runs"])
def seeded(engine, request, monkeypatch):
    """(engine, predictions, labelled posting ids, run -> started_at); the queue's clock a day after DECIDED_AT."""
    _now(monkeypatch, "2026-12-03T12:00:00")
    predictions = _seed(engine)
    runs = RUNS + (LATE_RUNS if request.param == "runs" else [])
    if request.param == "runs":
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, "
                        "partition_date, status, started_at) VALUES (:r, :s, :s, :m, '2026-12-01', 'success', :s)"),
                [{"r": r, "m": m, "s": s} for r, m, s, _ in LATE_RUNS],
            )
    with engine.connect() as conn:
        labelled = {r[0] for r in conn.execute(sa.text("SELECT posting_id FROM posting_labels"))}
    return engine, predictions, labelled, {r: s for r, _, s, _ in runs}


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: f"{f.order}-{f.state}-{'flagged' if f.flagged_only else 'all'}")
def test_walking_the_cursors_gives_every_row_once_in_order(seeded, filters):
    engine, predictions, labelled, started = seeded
    expected = _expected(predictions, filters, labelled, started)
    assert len(expected) > 8
    if filters.order == "impact" and filters.state == "pending":  # rows awaiting the memory come last
        settles = [s for _, _, s in expected]
        assert 0 in settles and settles[-1] == 0 and max(settles) > 1
    pages = _walk(engine, filters, 4)
    rows = [r for page in pages for r in page.rows]
    assert [(r["posting_id"], r["model_version"], r["settles"]) for r in rows] == expected
    assert pages[0].total == len(expected) == count_queue(engine, filters)
    assert all(page.total is None for page in pages[1:])  # counted on the first page only
    assert pages[0].prev_cursor is None and all(page.prev_cursor for page in pages[1:])
    assert all(len(page.rows) == 4 for page in pages[:-1])
    # The same rows by OFFSET (review_queue, kept for its callers).
    assert [r["posting_id"] for r in review_queue(engine, filters, 4, 4)[0]] == [p for p, _, _ in expected[4:8]]
    # And back: "before" the first row of each page is the page before it.
    for earlier, later in zip(pages, pages[1:]):
        back = queue_page(engine, filters, 4, before=later.prev_cursor, count=False)
        assert [r["posting_id"] for r in back.rows] == [r["posting_id"] for r in earlier.rows]
        assert back.next_cursor == earlier.next_cursor
        assert (back.prev_cursor is None) == (earlier is pages[0])
    assert queue_page(engine, filters, 4, before=pages[-1].prev_cursor).total == len(expected)


def test_a_decision_older_than_the_await_window_no_longer_puts_its_title_last(seeded, monkeypatch):
    """Where no re-code came (the backlog step off, an older model's rows), the posting comes back."""
    engine, predictions, labelled, started = seeded
    filters = QueueFilter(order="impact")
    assert any(r["settles"] == 0 for r in review_queue(engine, filters, 200)[0])
    _now(monkeypatch, "2026-12-09T00:00:00")
    rows, _ = review_queue(engine, filters, 200)
    keyed = [r for r in rows if r["memory_key"] is not None]
    assert keyed and all(r["settles"] >= 1 for r in rows)


def test_a_cursor_belongs_to_its_order_and_is_checked(seeded):
    engine = seeded[0]
    page = queue_page(engine, QueueFilter(order="impact"), 5)
    assert decode_cursor("impact", page.next_cursor)[-1] == page.rows[-1]["model_version"]
    with pytest.raises(ValueError, match="newest"):
        queue_page(engine, QueueFilter(order="newest"), 5, after=page.next_cursor)
    for bad in ("nonsense", "W10", "WyJpbXBhY3QiLDEsMiwzLDQsNV0"):  # not base64 JSON; []; wrong types
        with pytest.raises(ValueError):
            queue_page(engine, QueueFilter(order="impact"), 5, after=bad)
    assert cursor_at(engine, QueueFilter(order="impact"), 0) is None
    assert cursor_at(engine, QueueFilter(order="impact"), 10_000) is None
    assert cursor_at(engine, QueueFilter(order="impact"), 5) == page.next_cursor


def test_a_decision_between_pages_loses_no_row(seeded):
    """Keyset, unlike OFFSET: deciding the rows of page 1 does not push page 2's first rows out of reach."""
    from jobclass.store.labels import CODED, Decision, record_decisions

    engine = seeded[0]
    filters = QueueFilter(order="newest")
    everything = [r["posting_id"] for r in review_queue(engine, filters, 1000)[0]]
    first = queue_page(engine, filters, 7)
    record_decisions(engine, [Decision(r["posting_id"], CODED, "11-1011.00", "bob") for r in first.rows])
    second = queue_page(engine, filters, 7, after=first.next_cursor)
    assert [r["posting_id"] for r in second.rows] == everything[7:14]


def _links(html: str) -> dict[str, str]:
    return {rel: unescape(href) for rel, href in re.findall(r'<a rel="(prev|next)" href="([^"]+)"', html)}


@pytest.mark.parametrize("path", ["review", "predictions"])
def test_the_pages_walk_by_cursor(seeded, path):
    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app

    engine, predictions, labelled, started = seeded
    filters = QueueFilter(order="impact") if path == "review" else QueueFilter(state="all", flagged_only=False, order="newest")
    expected = [p for p, _, _ in _expected(predictions, filters, labelled, started)]
    pages = -(-len(expected) // 10)
    with TestClient(create_app(engine_factory=lambda: engine, auth=None)) as client:
        html, seen, visited = client.get(f"/{path}").text, [], []
        while True:
            seen += re.findall(r'data-posting-id="([^"]+)"', html)
            visited.append(html)
            assert f"page {len(visited)} of {pages}" in html and f"{len(expected)} posting" in html
            link = _links(html).get("next")
            if link is None:
                break
            assert "after=" in link and "total=" in link and "offset" not in link
            html = client.get(f"/{path}{link}").text
        assert seen == expected
        # back, newer page by newer page, to the first
        for earlier in reversed(visited[:-1]):
            html = client.get(f"/{path}{_links(html)['prev']}").text
            assert re.findall(r'data-posting-id="([^"]+)"', html) == re.findall(r'data-posting-id="([^"]+)"', earlier)
        assert "prev" not in _links(html)
        # an old page-number link still opens that page, and a bad cursor is a 422
        old = client.get(f"/{path}", params={"page": 2}).text
        assert re.findall(r'data-posting-id="([^"]+)"', old) == expected[10:20] and "page 2 of" in old
        assert client.get(f"/{path}", params={"after": "nonsense"}).status_code == 422


def test_the_export_pages_by_cursor(seeded, monkeypatch):
    from jobclass.pipeline import label_files

    engine, predictions, labelled, started = seeded
    monkeypatch.setattr(label_files, "EXPORT_PAGE", 4)  # many pages out of a small queue
    filters = QueueFilter(order="impact")
    out = io.StringIO()
    count = label_files.write_export(engine, out, filters)
    exported = [r["posting_id"] for r in csv.DictReader(io.StringIO(out.getvalue()))]
    assert exported == [p for p, _, _ in _expected(predictions, filters, labelled, started)] and count == len(exported)
    rows, cursor = label_files.export_page(engine, filters)
    assert [r["posting_id"] for r in rows] == exported[:4]
    rows, _ = label_files.export_page(engine, filters, cursor)
    assert [r["posting_id"] for r in rows] == exported[4:8]
