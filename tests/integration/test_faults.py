"""Faults of the nightly path (issue 6), each injected for real and its outcome asserted.

1. A classify run SIGKILLed mid-way (a real child process), then re-run: SQL rows and Parquet
   bytes equal a clean run's.
2. The database unreachable at the start (retries with backoff, then a clear failure with the
   password masked) or dropping mid-run (a transient drop is retried; a lasting one fails the run,
   which is never recorded as a success; a re-run completes and reconciles).
3. A corrupt or incomplete bundle: load and promotion refuse it; the champion stays, and the
   nightly classifies with it.
4. A promotion during a nightly run: every row of the run carries the version resolved at start.
5. The same interval twice, and two runs at once: no duplicate keys, counts reconcile.

Everything is real: the tiny model, SQLite and PostgreSQL, processes and signals. Faults are
injected by wrappers that delegate to the real component (a classifier that kills its process
or promotes a model on its Nth batch; an engine event that makes statements fail with the
driver's own OperationalError, as a dropped connection does; ``pg_terminate_backend``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import jobclass.store.engine
from jobclass.paths import DEMO_POSTINGS
from jobclass.pipeline.ingest import load_records
from jobclass.pipeline.interval import classify_interval, finish_run, make_run_id, part_name
from jobclass.store.engine import DatabaseUnavailable, make_engine, wait_for_database

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "dags") not in sys.path:  # the DAG's task functions (no Airflow import in them)
    sys.path.insert(0, str(REPO / "dags"))

DAY, NEXT_DAY, DAY_AFTER = "2026-11-25", "2026-11-26", "2026-11-27"
CHUNK = 10
TOP_K = 3
N_DEMO = 40
REJECTED_IDS = ["zzz-empty-1", "zzz-empty-2"]  # sort last: the last chunk holds only rejects
N_POSTINGS = N_DEMO + len(REJECTED_IDS)
N_CHUNKS = 5  # 10 + 10 + 10 + 10 + 2
PASSWORD = "S3cret-Pa55word"


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture
def fast_retries(monkeypatch):
    """Keep the library's backoff (and its retries) but in milliseconds, so tests stay fast."""
    monkeypatch.setattr(jobclass.store.engine, "DB_RETRY_MULTIPLIER", 0.01)
    monkeypatch.setattr(jobclass.store.engine, "DB_RETRY_MAX_WAIT_S", 0.05)


def demo_records(n: int, prefix: str = "") -> list[dict]:
    with gzip.open(DEMO_POSTINGS, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(n), fh)]
    if prefix:
        for r in records:
            r["id"] = f"{prefix}{r['id']}"
    return records


def load_sample(engine, day: str = DAY, prefix: str = "") -> None:
    """40 real USAJOBS postings and 2 empty ones (rejected), ingested at noon on ``day``."""
    records = demo_records(N_DEMO, prefix) + [{"id": f"{prefix}{i}", "title": "", "body": ""} for i in REJECTED_IDS]
    load_records(engine, records, source="usajobs", ingested_at=f"{day}T12:00:00Z")


def table_rows(engine, table: str, order: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}"))]


def file_digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too), by relative path."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def snapshot(engine, out: Path) -> dict:
    return {
        "predictions": table_rows(engine, "predictions", "posting_id, model_version, rank"),
        "rejected": table_rows(engine, "rejected_postings", "run_id, posting_id"),
        "files": file_digests(out),
    }


def reset_outputs(engine, out: Path) -> None:
    with engine.begin() as conn:
        for table in ("predictions", "rejected_postings", "prediction_runs"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    shutil.rmtree(out, ignore_errors=True)


def runs(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM prediction_runs ORDER BY run_id")).mappings()]


def accounted(engine, run_id: str) -> int:
    """Postings of the run that are predicted (rank 1) or rejected."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT (SELECT COUNT(*) FROM predictions WHERE run_id = :r AND rank = 1)"
                " + (SELECT COUNT(*) FROM rejected_postings WHERE run_id = :r)"
            ),
            {"r": run_id},
        ).scalar_one()


def assert_no_duplicates_and_reconciled(engine, out: Path, run_id: str, rows: int = N_POSTINGS) -> None:
    with engine.connect() as conn:
        dup_predictions = conn.execute(
            sa.text(
                "SELECT posting_id, model_version, rank FROM predictions "
                "GROUP BY posting_id, model_version, rank HAVING COUNT(*) > 1"
            )
        ).all()
        both = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM predictions p JOIN rejected_postings r "
                "ON r.posting_id = p.posting_id AND r.run_id = p.run_id"
            )
        ).scalar_one()
        run = conn.execute(sa.text("SELECT * FROM prediction_runs WHERE run_id = :r"), {"r": run_id}).mappings().one()
    assert dup_predictions == [] and both == 0
    assert (run["status"], run["rows_read"]) == ("success", rows)
    assert run["rows_read"] == run["rows_predicted"] + run["rows_rejected"] == accounted(engine, run_id)
    frame = pq.read_table(out).to_pandas()
    frame = frame[frame["run_id"] == run_id]
    assert not frame.duplicated(["posting_id", "model_version", "rank"]).any()
    assert frame.loc[frame["rank"] == 1, "posting_id"].nunique() == run["rows_predicted"]


class FaultyClassifier:
    """Delegates to the real classifier; runs ``hooks[n]()`` before its n-th batch (1-based)."""

    def __init__(self, inner, hooks: dict | None = None) -> None:
        self.inner, self.hooks, self.calls = inner, hooks or {}, 0

    @property
    def version(self) -> str:
        return self.inner.version

    def predict_frame(self, frame, top_k: int = 5, **kwargs):
        self.calls += 1
        if self.calls in self.hooks:
            self.hooks[self.calls]()
        return self.inner.predict_frame(frame, top_k=top_k, **kwargs)


class Outage:
    """The database going away: statements on ``engine`` fail with the driver's own
    OperationalError ("server closed the connection unexpectedly"), raised where a dropped
    connection raises it, so SQLAlchemy wraps and classifies it as it would a real drop.

    ``start(failures=None)`` fails every statement (whose SQL contains ``only``) until ``heal()``;
    ``start(failures=k)`` fails the next k and heals by itself (a brief blip).
    """

    def __init__(self, engine, only: str | None = None) -> None:
        self.engine, self.only = engine, only
        self.remaining: int | None = 0
        self.failed = 0
        self._dbapi_error = engine.dialect.loaded_dbapi.OperationalError
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def start(self, failures: int | None = None) -> None:
        self.remaining = failures

    def heal(self) -> None:
        self.remaining = 0

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.remaining == 0 or (self.only and self.only not in statement):
            return
        if self.remaining is not None:
            self.remaining -= 1
        self.failed += 1
        raise self._dbapi_error("server closed the connection unexpectedly")


# =============================================================================================
# 1. A classify run killed mid-way, then re-run
# =============================================================================================
CHILD = textwrap.dedent(
    '''
    """A nightly classify in its own process, SIGKILLed at a chosen point (test-only injection)."""
    import os, signal, sys

    from jobclass.model.bundle import load_bundle
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import make_engine
    import jobclass.pipeline.interval
    import jobclass.pipeline.parquet_sink

    url, bundle, out, start, end, chunk_size, top_k, mode, n = sys.argv[1:]
    n = int(n)

    def die():
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    calls = {"predict": 0, "parquet": 0}

    class KillingClassifier:  # the real model; the process dies as batch n starts
        def __init__(self, inner):
            self.inner = inner

        @property
        def version(self):
            return self.inner.version

        def predict_frame(self, frame, top_k=5, **kwargs):
            calls["predict"] += 1
            if mode == "predict" and calls["predict"] == n:
                die()
            return self.inner.predict_frame(frame, top_k=top_k, **kwargs)

    real_write_part = jobclass.pipeline.interval.write_parquet_partition
    real_write_table = jobclass.pipeline.parquet_sink.pq.write_table

    def write_part(*args, **kwargs):  # chunk n: its SQL transaction committed, its part not written
        calls["parquet"] += 1
        if mode == "after_sql" and calls["parquet"] == n:
            die()
        return real_write_part(*args, **kwargs)

    def write_table(table, where, **kwargs):  # chunk n: half a file in the temporary, then death
        if mode == "mid_parquet" and calls["parquet"] == n:
            real_write_table(table.slice(0, table.num_rows // 2), where, **kwargs)
            where.flush()
            die()
        return real_write_table(table, where, **kwargs)

    jobclass.pipeline.interval.write_parquet_partition = write_part
    jobclass.pipeline.parquet_sink.pq.write_table = write_table

    engine = make_engine(url)
    classifier = KillingClassifier(load_bundle(bundle))
    print("child: classifying", flush=True)
    classify_interval(engine, classifier, start, end, top_k=int(top_k), chunk_size=int(chunk_size), out_dir=out)
    print("child: finished without being killed", flush=True)
    '''
)

# mode -> (n, chunks complete (SQL + Parquet) at death, postings in SQL at death)
KILL_POINTS = {
    "predict": (3, 2, 20),  # dies encoding chunk 2: chunks 0 and 1 are written
    "after_sql": (2, 1, 20),  # dies between chunk 1's SQL commit and its Parquet part
    "mid_parquet": (2, 1, 20),  # dies with chunk 1's part half-written to its temporary file
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(KILL_POINTS))
def test_killed_run_then_rerun_matches_a_clean_run(mode, engine, database_url, tiny_classifier, tiny_bundle_path,
                                                   tmp_path):
    n, complete, in_sql = KILL_POINTS[mode]
    load_sample(engine)
    out = tmp_path / "predictions"
    clean = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    assert (clean.status, clean.chunks, clean.rows_read) == ("success", N_CHUNKS, N_POSTINGS)
    expected = snapshot(engine, out)
    reset_outputs(engine, out)

    script = tmp_path / "killed_child.py"
    script.write_text(CHILD, encoding="utf-8")
    args = [database_url, tiny_bundle_path, out, DAY, NEXT_DAY, CHUNK, TOP_K, mode, n]
    child = subprocess.run(
        [sys.executable, str(script), *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    # What the killed process left: a run that is NOT a success, some chunks done, others not.
    run_id = make_run_id(DAY, NEXT_DAY, tiny_classifier.version)
    assert [(r["run_id"], r["status"]) for r in runs(engine)] == [(run_id, "running")]
    assert accounted(engine, run_id) == in_sql
    day_dir = out / f"dt={DAY}"
    assert sorted(p.name for p in day_dir.glob("part-*.parquet")) == [
        f"{part_name(run_id, i)}.parquet" for i in range(complete)
    ]
    temporaries = sorted(day_dir.glob(".*.tmp"))
    assert len(temporaries) == (1 if mode == "mid_parquet" else 0)

    # The re-run skips the finished chunks, redoes the rest, and reconciles.
    again = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    assert (again.status, again.chunks_skipped, again.rows_read) == ("success", complete, N_POSTINGS)
    assert_no_duplicates_and_reconciled(engine, out, run_id)
    got = snapshot(engine, out)
    assert got["predictions"] == expected["predictions"]  # every column, scores included
    assert got["rejected"] == expected["rejected"]
    visible = {k: v for k, v in got["files"].items() if not Path(k).name.startswith(".")}
    assert visible == expected["files"]  # byte for byte
    if temporaries:
        # Readers skip the dead writer's hidden temporary; a finished run removes it once it is
        # surely orphaned (older than ORPHAN_TMP_AGE_S: a younger one may be a live writer's).
        old = time.time() - 2 * 3600
        os.utime(temporaries[0], (old, old))
        finish_run(engine, run_id, out_dir=out)
        assert snapshot(engine, out)["files"] == expected["files"]


# =============================================================================================
# 2. The database unreachable at the start, or dropping mid-run
# =============================================================================================
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_postgres_at_start_retries_with_backoff_then_fails_clearly(caplog, tiny_classifier,
                                                                              fast_retries):
    url = f"postgresql://jobclass:{PASSWORD}@127.0.0.1:{closed_port()}/jobclass"
    engine = make_engine(url)
    caplog.set_level(logging.DEBUG)
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        wait_for_database(engine, attempts=3, max_wait_s=0.2)
    elapsed = time.monotonic() - t0
    message = str(info.value)
    assert "after 3 attempts" in message and "Connection refused" in message
    assert "Check that the server is running" in message and "jobclass:***@127.0.0.1" in message
    retries = [r for r in caplog.records if "not reachable" in r.getMessage()]
    assert [r.getMessage().split("(attempt ")[1][:6] for r in retries] == ["1 of 3", "2 of 3"]
    assert elapsed >= 0.35  # two backoff waits of min(0.5 * 2**n, 0.2) s

    # The pipeline itself retries too, and says what to check.
    caplog.clear()
    with pytest.raises(DatabaseUnavailable, match=r"plan chunks: .*failed 4 times.*Check that the database is up"):
        classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, chunk_size=CHUNK)
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 3
    assert PASSWORD not in caplog.text
    engine.dispose()


@pytest.mark.parametrize("where", ["parent-is-a-file", "read-only-directory"])
def test_unusable_sqlite_path_at_start_fails_clearly(where, tmp_path, caplog):
    if where == "parent-is-a-file":
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the database directory should be")
        path = blocker / "jobclass.db"
    else:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o555)
        if os.access(directory, os.W_OK):  # root ignores permission bits
            pytest.skip("running as a user who can write to a read-only directory")
        path = directory / "jobclass.db"
    engine = make_engine(f"sqlite:///{path}")  # no crash here: the check below says what is wrong
    with pytest.raises(DatabaseUnavailable) as info:
        wait_for_database(engine, attempts=2, max_wait_s=0.05)
    message = str(info.value)
    assert "after 2 attempts" in message and "unable to open database file" in message
    assert "Check that the database file's directory exists and is writable" in message
    assert any("not reachable (attempt 1 of 2)" in r.getMessage() for r in caplog.records)
    engine.dispose()


def test_a_brief_drop_mid_run_is_retried_and_the_run_succeeds(engine, tiny_classifier, tmp_path, caplog,
                                                              fast_retries):
    load_sample(engine)
    outage = Outage(engine)
    classifier = FaultyClassifier(tiny_classifier, {2: lambda: outage.start(failures=2)})
    caplog.set_level(logging.WARNING, logger="jobclass")
    out = tmp_path / "out"
    summary = classify_interval(engine, classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    outage.remove()
    assert outage.failed == 2
    assert summary.status == "success" and summary.rows_read == N_POSTINGS
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retries and all("chunk 1: write" in m for m in retries)
    assert_no_duplicates_and_reconciled(engine, out, summary.run_id)


@pytest.mark.parametrize("scope", ["database-down", "predictions-table-failing"])
def test_a_lasting_drop_mid_run_fails_clearly_is_never_a_success_and_a_rerun_reconciles(
    scope, engine, tiny_classifier, tmp_path, caplog, fast_retries
):
    load_sample(engine)
    out = tmp_path / "out"
    outage = Outage(engine, only=None if scope == "database-down" else "INSERT INTO predictions")
    classifier = FaultyClassifier(tiny_classifier, {3: outage.start})
    with pytest.raises(DatabaseUnavailable, match=r"chunk 2: write: database .* failed 4 times: server closed"):
        classify_interval(engine, classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    run_id = make_run_id(DAY, NEXT_DAY, tiny_classifier.version)
    outage.heal()
    [run] = runs(engine)
    if scope == "database-down":  # nothing could be recorded: the row still says running
        assert run["status"] == "running"
        assert "could not be marked failed" in caplog.text
    else:  # the run table still works: the failure is recorded, with the reason
        assert run["status"] == "failed" and "DatabaseUnavailable: chunk 2: write" in run["detail"]
    assert accounted(engine, run_id) == 2 * CHUNK  # chunks 0 and 1 got through, chunk 2 rolled back
    outage.remove()

    again = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    assert (again.status, again.chunks_skipped) == ("success", 2)
    assert_no_duplicates_and_reconciled(engine, out, run_id)


def test_postgres_connection_killed_mid_transaction_is_retried(engine, database_url, tiny_classifier, tmp_path,
                                                               caplog, fast_retries):
    """A real drop: the server terminates the backend in the middle of a chunk's write transaction."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side connection kill needs PostgreSQL")
    load_sample(engine)
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill_after_delete(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("DELETE FROM predictions") and not killed:
            pid = cursor.connection.info.backend_pid
            with admin.connect() as a:
                assert a.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            killed.append(pid)

    sa.event.listen(engine, "after_cursor_execute", kill_after_delete)
    caplog.set_level(logging.WARNING, logger="jobclass")
    out = tmp_path / "out"
    try:
        summary = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK,
                                    out_dir=out)
    finally:
        sa.event.remove(engine, "after_cursor_execute", kill_after_delete)
        admin.dispose()
    assert killed and summary.status == "success"
    assert any("chunk 0: write" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
    assert_no_duplicates_and_reconciled(engine, out, summary.run_id)


# =============================================================================================
# 3. A corrupt or incomplete bundle
# =============================================================================================
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


CORRUPTIONS = {
    "truncated-heads": (lambda b: _truncate(b / "heads.safetensors"), "corrupt"),
    "flipped-byte-in-encoder-weights": (lambda b: _flip_a_byte(b / "encoder" / "model.safetensors"), "corrupt"),
    "missing-labels": (lambda b: (b / "labels.csv").unlink(), "incomplete"),
    "missing-encoder-config": (lambda b: (b / "encoder" / "modules.json").unlink(), "incomplete"),
    "garbage-metadata": (lambda b: (b / "metadata.json").write_text("{not json"), "corrupt"),
    "unexpected-file": (lambda b: (b / "heads.safetensors.bak").write_bytes(b"x"), "corrupt"),
    "missing-directory": (lambda b: shutil.rmtree(b), "does not exist"),
}


@pytest.mark.slow
def test_corrupt_bundles_are_refused_and_the_champion_is_kept(engine, tiny_bundle_path, tmp_path):
    from jobclass.model.bundle import BundleError, load_bundle
    from jobclass.pipeline.nightly import resolve_champion
    from jobclass.store import registry

    registry.register_model(engine, "good", tiny_bundle_path, {}, None, status="champion")
    for name, (corrupt, words) in CORRUPTIONS.items():
        bad = tmp_path / name
        shutil.copytree(tiny_bundle_path, bad)
        corrupt(bad)
        with pytest.raises(BundleError, match=words):
            load_bundle(bad)
        registry.register_model(engine, name, bad, {}, None)
        with pytest.raises(BundleError, match=words):
            registry.promote(engine, name, "must be refused")
        with pytest.raises(BundleError):
            registry.register_model(engine, f"{name}-as-champion", bad, {}, None, status="champion")
        assert registry.get_champion(engine).version == "good", name
        assert resolve_champion(engine, bootstrap=False)["version"] == "good"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM model_versions WHERE status = 'champion'")).scalar_one() == 1

    # The nightly still classifies with the last good champion, end to end.
    load_sample(engine)
    champion = resolve_champion(engine, bootstrap=False)
    summary = classify_interval(
        engine, load_bundle(champion["path"]), DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=tmp_path / "out",
        model_version=champion["version"],
    )
    assert (summary.status, summary.model_version, summary.rows_read) == ("success", "good", N_POSTINGS)

    # A champion whose files rot on disk afterwards: the nightly refuses it with a clear error
    # instead of predicting with a broken model (and the registry is left as it was).
    rotten = tmp_path / "rotten"
    shutil.copytree(tiny_bundle_path, rotten)
    registry.register_model(engine, "rotten", rotten, {}, None, status="champion")
    _truncate(rotten / "heads.safetensors")
    with pytest.raises(BundleError, match="corrupt.*heads.safetensors"):
        resolve_champion(engine, bootstrap=False)
    assert registry.get_champion(engine).version == "rotten"


# =============================================================================================
# 4. A promotion during a nightly run
# =============================================================================================
@pytest.mark.slow
def test_a_promotion_mid_run_does_not_change_the_runs_model_version(engine, tiny_classifier, tiny_bundle_path,
                                                                    tmp_path):
    from jobclass.pipeline.nightly import finish, plan, predict_chunk, resolve_champion
    from jobclass.store import registry

    v2_path = tmp_path / "v2"
    shutil.copytree(tiny_bundle_path, v2_path)
    registry.register_model(engine, "v1", tiny_bundle_path, {}, None, status="champion")
    registry.register_model(engine, "v2", v2_path, {}, None)
    load_sample(engine)

    # As the nightly DAG does it: the champion resolved once, handed to every chunk task.
    model = resolve_champion(engine, bootstrap=False)
    chunks = plan(engine, model, DAY, NEXT_DAY, chunk_size=CHUNK)
    results = [predict_chunk(engine, model, chunks[0], DAY, NEXT_DAY, top_k=TOP_K)]
    registry.promote(engine, "v2", "promoted by the weekly retrain while the nightly runs")
    results += [predict_chunk(engine, model, c, DAY, NEXT_DAY, top_k=TOP_K) for c in chunks[1:]]
    summary = finish(engine, model, DAY, NEXT_DAY, results)
    assert (summary["status"], summary["model_version"], summary["rows_read"]) == ("success", "v1", N_POSTINGS)
    assert registry.get_champion(engine).version == "v2"
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT DISTINCT model_version, run_id FROM predictions")).all()
    assert versions == [("v1", make_run_id(DAY, NEXT_DAY, "v1"))]
    from jobclass.paths import predictions_dir

    frame = pq.read_table(predictions_dir() / f"dt={DAY}").to_pandas()
    assert set(frame.loc[frame["run_id"] == make_run_id(DAY, NEXT_DAY, "v1"), "model_version"]) == {"v1"}

    # The library path: the version is fixed when the run starts, whatever is promoted meanwhile.
    classifier = FaultyClassifier(tiny_classifier, {2: lambda: registry.promote(engine, "v1", "rolled back")})
    load_sample(engine, day=NEXT_DAY, prefix="next-")
    lib = classify_interval(engine, classifier, NEXT_DAY, DAY_AFTER, top_k=TOP_K, chunk_size=CHUNK,
                            out_dir=tmp_path / "out", model_version="v2")
    assert registry.get_champion(engine).version == "v1" and lib.status == "success"
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT DISTINCT model_version FROM predictions WHERE run_id = :r"), {"r": lib.run_id}
        ).all()
    assert rows == [("v2",)]


# =============================================================================================
# 5. The same interval twice, and two runs at once
# =============================================================================================
@pytest.mark.slow
def test_the_same_interval_twice_changes_nothing(engine, tiny_classifier, tmp_path):
    load_sample(engine)
    out = tmp_path / "out"
    first = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    before = snapshot(engine, out)
    lazy = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    forced = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out,
                               force=True)
    assert (lazy.chunks_skipped, forced.chunks_skipped) == (N_CHUNKS, 0)
    assert snapshot(engine, out) == before
    assert [r["run_id"] for r in runs(engine)] == [first.run_id]
    assert_no_duplicates_and_reconciled(engine, out, first.run_id)


class Lockstep:
    """Makes two runs hit every chunk at the same moment: both enter the batch together, encode
    one at a time (a tokenizer is not safe for concurrent calls), and leave together, so their
    SQL replaces and Parquet renames of the same chunk collide."""

    def __init__(self, parties: int = 2, timeout_s: float = 60) -> None:
        self.barrier = threading.Barrier(parties, timeout=timeout_s)
        self.encoding = threading.Lock()

    def sync(self) -> None:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:  # a partner finished early: carry on alone
            pass

    def wrap(self, inner):
        step = self

        class InLockstep:
            version = inner.version

            def predict_frame(self, frame, top_k: int = 5, **kwargs):
                step.sync()
                with step.encoding:
                    result = inner.predict_frame(frame, top_k=top_k, **kwargs)
                step.sync()
                return result

        return InLockstep()


def run_concurrently(database_url: str, jobs: list[tuple]) -> list:
    """Each job ``(classifier, start, end, out)`` in its own thread with its own engine (as
    separate workers have); returns the summaries, re-raising the first error."""
    results: list = [None] * len(jobs)

    def work(i: int, classifier, start, end, out) -> None:
        eng = make_engine(database_url)
        try:
            results[i] = classify_interval(eng, classifier, start, end, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc
        finally:
            eng.dispose()

    threads = [threading.Thread(target=work, args=(i, *job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


@pytest.mark.slow
def test_two_runs_of_the_same_interval_at_once(engine, database_url, tiny_classifier, tmp_path):
    load_sample(engine)
    out = tmp_path / "out"
    clean = classify_interval(engine, tiny_classifier, DAY, NEXT_DAY, top_k=TOP_K, chunk_size=CHUNK, out_dir=out)
    expected = snapshot(engine, out)
    reset_outputs(engine, out)

    step = Lockstep()
    summaries = run_concurrently(database_url, [(step.wrap(tiny_classifier), DAY, NEXT_DAY, out)] * 2)
    assert [s.status for s in summaries] == ["success", "success"]
    # in lockstep, both did every chunk with postings to encode side by side (the last chunk holds
    # only rejects: the later run may find it done)
    assert all(s.chunks_skipped <= 1 for s in summaries)
    assert snapshot(engine, out) == expected
    assert [r["run_id"] for r in runs(engine)] == [clean.run_id]
    assert_no_duplicates_and_reconciled(engine, out, clean.run_id)


@pytest.mark.slow
def test_two_intervals_at_once_reconcile_separately(engine, database_url, tiny_classifier, tmp_path):
    load_sample(engine, day=DAY)
    load_sample(engine, day=NEXT_DAY, prefix="next-")
    out = tmp_path / "out"
    step = Lockstep()
    first, second = run_concurrently(
        database_url,
        [(step.wrap(tiny_classifier), DAY, NEXT_DAY, out), (step.wrap(tiny_classifier), NEXT_DAY, DAY_AFTER, out)],
    )
    assert (first.status, second.status) == ("success", "success")
    for summary in (first, second):
        assert_no_duplicates_and_reconciled(engine, out, summary.run_id)
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT COUNT(DISTINCT posting_id) FROM predictions")).scalar_one()
        rejected = conn.execute(sa.text("SELECT COUNT(*) FROM rejected_postings")).scalar_one()
    assert total + rejected == 2 * N_POSTINGS
    assert sorted(p.parent.name for p in out.rglob("part-*.parquet")) == [f"dt={DAY}"] * N_CHUNKS + [
        f"dt={NEXT_DAY}"
    ] * N_CHUNKS
