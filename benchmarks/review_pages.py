"""Page times of the review pages at a million predictions (issue 29, item 3).

200,000 postings x 5 predictions (top-5, one model version, 200 nightly runs of 1,000 postings;
40% of the top-1 rows flagged for review, 5% of the postings decided, titles drawn from 20,000
memory keys with a long tail) are bulk-loaded into a throwaway PostgreSQL database (COPY) and a
temporary SQLite file (executemany). Then, on each, the p95 time of:

* ``/review`` (the review queue, default "impact" order) and ``/predictions`` (the browser, "newest"
  order), whole pages over HTTP (FastAPI's test client, no auth), at page 1 and deep in the list
  (page 500: the cursor after row 4,990);
* one export page (500 rows of ``jobclass labels export`` with their suggestions), first and deep
  (the page after row 50,000).

    python benchmarks/review_pages.py                     # both databases, 30 requests per figure
    python benchmarks/review_pages.py --databases sqlite --requests 30
    python benchmarks/review_pages.py --postings 20000    # a quick look

PostgreSQL is ``--pg-url`` (default the local server, 127.0.0.1:5432, user postgres); the benchmark
creates a database of its own there and drops it afterwards. Target: p95 <= 300 ms. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from jobclass.store.engine import make_engine  # noqa: E402
from jobclass.store.schema import init_schema  # noqa: E402

MODEL = "20261201T000000Z-default-aaaaaaaa"
RANKS = 5
PER_RUN = 1_000
KEYS = 20_000
FLAGGED = 0.4
DECIDED = 0.05
UI_DEEP_ROW = 4_990  # page 500 of 10
EXPORT_DEEP_ROW = 50_000
TARGET_MS = 300.0
WARMUP = 2  # untimed requests before each figure's
CODES = [f"{g:02d}-{n:04d}.00" for g in range(11, 54, 2) for n in range(1011, 1061)]
WORDS = "senior junior lead staff nurse engineer analyst clerk driver welder teacher manager assistant".split()


# --------------------------------------------------------------------------- the data


def _ts(day: int, hour: int = 2, minute: int = 0) -> str:
    return f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:{minute:02d}:00.000000Z"


def generate(postings: int, seed: int = 29) -> dict[str, list[tuple]]:
    """The rows of every table, as tuples in the column order of :data:`COLUMNS`."""
    rng = random.Random(seed)
    titles = [f"{rng.choice(WORDS)} {rng.choice(WORDS)} {k}" for k in range(KEYS)]
    runs, jobs, preds, labels = [], [], [], []
    for r in range((postings + PER_RUN - 1) // PER_RUN):
        start, end = _ts(r), _ts(r + 1)
        run_id = f"{start}/{end}/{MODEL}"
        runs.append((run_id, start, end, MODEL, end[:10], 1, "success", _ts(r + 1, 2, 5)))
        for i in range(r * PER_RUN, min(postings, (r + 1) * PER_RUN)):
            pid = f"p{i:07d}"
            key = min(int(rng.paretovariate(0.7)) - 1, KEYS - 1) if rng.random() < 0.7 else rng.randrange(KEYS)
            title = titles[key]
            jobs.append((pid, title.title(), f"Duties of a {title}. " * 8, "bench", start))
            flagged = rng.random() < FLAGGED
            top = rng.uniform(0.05, 0.5) if flagged else rng.uniform(0.5, 0.99)
            codes = rng.sample(CODES, RANKS)
            for rank, code in enumerate(codes, 1):
                score = top if rank == 1 else round(top / (rank + 1), 4)
                preds.append((
                    pid, MODEL, rank, code, f"Occupation {code}", score, code[:7], score, code[:2], score,
                    flagged, "detailed", f"{title} (title)", score, run_id, end[:10], end, "model", rank, title,
                ))
            if rng.random() < DECIDED:
                labels.append((pid, codes[0], "bench", end, "coded", MODEL, 1))
    return {"prediction_runs": runs, "job_postings": jobs, "predictions": preds, "posting_labels": labels}


COLUMNS = {
    "prediction_runs": "run_id, interval_start, interval_end, model_version, partition_date, chunks, status, started_at",
    "job_postings": "id, title, body, source, ingested_at",
    "predictions": "posting_id, model_version, rank, onet_code, onet_title, score, soc6_code, soc6_score, major_group, "
    "major_group_score, needs_review, backoff_level, evidence, evidence_score, run_id, partition_date, predicted_at, "
    "source, model_rank, memory_key",
    "posting_labels": "posting_id, onet_code, reviewer, created_at, decision, model_version, suggested_rank",
}


def load(engine: sa.Engine, tables: dict[str, list[tuple]]) -> None:
    """Bulk-load: COPY on PostgreSQL, executemany on SQLite; then VACUUM ANALYZE (SQLite: ANALYZE)."""
    init_schema(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, rows in tables.items():
            cols = COLUMNS[table]
            if engine.dialect.name == "postgresql":
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(rows[0]))
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        raw.commit()
    finally:
        raw.close()
    # What autovacuum does to a freshly loaded table within a minute or so: statistics, and (PostgreSQL)
    # the visibility map that index-only scans need. Done here so that every run measures the same state.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))


@contextlib.contextmanager
def database(kind: str, pg_url: str) -> Iterator[sa.Engine]:
    """A fresh, empty jobclass database of ``kind``, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/review_pages.db")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    name = f"jobclass_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- the pages


def _cursor_api() -> bool:
    """Whether the code under test pages by cursor (after the change) or by page number (before)."""
    import jobclass.store.labels as labels

    return hasattr(labels, "queue_page")


def ui_requests(engine: sa.Engine) -> dict[str, str]:
    """figure name -> the URL of the page it times."""
    urls = {"queue p1": "/review", "browser p1": "/predictions"}
    if not _cursor_api():
        return urls | {"queue p500": "/review?page=500", "browser p500": "/predictions?page=500"}
    from urllib.parse import urlencode

    from jobclass.store.labels import QueueFilter, count_queue, cursor_at

    # The link a reviewer follows to page 500 ("older →" on page 499): the cursor after row 4,990 and
    # the count the first page made, as the pages pass them on.
    pages = {
        "queue": ("/review", QueueFilter(order="impact")),
        "browser": ("/predictions", QueueFilter(state="all", flagged_only=False, order="newest")),
    }
    for name, (path, filters) in pages.items():
        after = cursor_at(engine, filters, UI_DEEP_ROW)
        query = {"after": after, "page": UI_DEEP_ROW // 10 + 1, "total": count_queue(engine, filters)}
        urls[f"{name} p500"] = f"{path}?{urlencode(query)}"
    return urls


def export_pages(engine: sa.Engine) -> dict[str, Callable[[], int]]:
    """figure name -> a call that builds one export page (500 rows with suggestions)."""
    from jobclass.pipeline import label_files
    from jobclass.store.labels import QueueFilter

    filters = QueueFilter(state="pending")
    if not _cursor_api():
        from jobclass.pipeline.review import SUGGESTIONS
        from jobclass.store.labels import review_queue, top_predictions

        def page_at(offset: int) -> Callable[[], int]:
            def one() -> int:  # what one turn of export_rows' loop does
                rows, _ = review_queue(engine, filters, label_files.EXPORT_PAGE, offset)
                top_predictions(engine, [r["posting_id"] for r in rows], SUGGESTIONS)
                return len(rows)

            return one

        return {"export p1": page_at(0), "export deep": page_at(EXPORT_DEEP_ROW)}

    from jobclass.store.labels import cursor_at

    deep = cursor_at(engine, filters, EXPORT_DEEP_ROW)

    def page_after(cursor: str | None) -> Callable[[], int]:
        return lambda: len(label_files.export_page(engine, filters, cursor)[0])

    return {"export p1": page_after(None), "export deep": page_after(deep)}


def _answers(url: str) -> bool:
    try:
        with sa.create_engine(url, connect_args={"connect_timeout": 3}).connect():
            return True
    except sa.exc.OperationalError:
        return False


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]


def measure(engine: sa.Engine, requests: int) -> dict[str, tuple[float, float, int]]:
    """figure name -> (p95 ms, median ms, rows on the page)."""
    from fastapi.testclient import TestClient

    from jobclass.airflow.api.app import create_app

    out: dict[str, tuple[float, float, int]] = {}
    with TestClient(create_app(engine_factory=lambda: engine, auth=None)) as client:
        client.get("/review")  # warm: the taxonomy, the templates, the connection pool
        for name, url in ui_requests(engine).items():
            times, cards = [], 0
            for _ in range(WARMUP):  # the page's own index pages into the cache, as a reviewer's first click would
                client.get(url)
            for _ in range(requests):
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text[:500]
                cards = len(re.findall(r'<article class="posting', response.text))
            out[name] = (p95(times), statistics.median(times), cards)
            print(f"  {name}: p95 {out[name][0]:.0f} ms", flush=True)
    for name, call in export_pages(engine).items():
        times, rows = [], 0
        for _ in range(WARMUP):
            call()
        for _ in range(requests):
            t0 = time.perf_counter()
            rows = call()
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = (p95(times), statistics.median(times), rows)
        print(f"  {name}: p95 {out[name][0]:.0f} ms", flush=True)
    return out


def table(results: dict[str, dict[str, tuple[float, float, int]]]) -> str:
    lines = [
        "| page | database | p95 ms | median ms | rows | <= 300 ms |",
        "|---|---|---:|---:|---:|---|",
    ]
    for kind, figures in results.items():
        for name, (high, mid, rows) in figures.items():
            lines.append(f"| {name} | {kind} | {high:.0f} | {mid:.0f} | {rows} | {'yes' if high <= TARGET_MS else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postings", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=30, help="requests per figure (p95 over them)")
    parser.add_argument("--databases", nargs="+", choices=["postgresql", "sqlite"], default=["postgresql", "sqlite"])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    tables = generate(args.postings)
    print(
        f"generated {len(tables['job_postings']):,} postings, {len(tables['predictions']):,} predictions, "
        f"{len(tables['posting_labels']):,} labels in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    results = {}
    for kind in args.databases:
        if kind == "postgresql" and not _answers(args.pg_url):
            print(f"postgresql: {sa.make_url(args.pg_url).render_as_string()} does not answer: skipped", flush=True)
            continue
        with database(kind, args.pg_url) as engine:
            t0 = time.perf_counter()
            load(engine, tables)
            print(f"{kind}: loaded in {time.perf_counter() - t0:.1f} s", flush=True)
            results[kind] = measure(engine, args.requests)
            print(table({kind: results[kind]}), flush=True)
    print(f"\n{platform.node()}, Python {platform.python_version()}, {args.requests} requests per figure\n")
    print(table(results))
    if not results:
        return 1
    worst = max(high for figures in results.values() for high, _, _ in figures.values())
    print(f"\nworst p95: {worst:.0f} ms (target {TARGET_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
