"""Manual and scheduled runs of the nightly that overlap (issue 29, item 1), through the REST API.

The same story as tests/integration/test_overlapping_runs.py, but run by a real Airflow: `make ui`
(scripts/ui.sh: ``airflow standalone`` with its scheduler, dag-processor, api-server and
LocalExecutor) on a spare port, every run triggered with ``POST /api/v2/dags/{dag}/dagRuns``:

1. a manual run (``"logical_date": null``, run_after 2024-03-04T12:00Z) codes what was ingested
   from the first posting up to its run_after: the 4 postings loaded at 05:00;
2. a run of the scheduled interval [2024-03-04T02:00, 2024-03-05T02:00) (the demo run of `make ui`)
   reads those 4 and 3 loaded later, skips the 4 the manual run coded and codes the 3;
3. a second manual run (run_after 2024-03-05T09:00) codes from the end of the last successful
   run's interval: the 2 postings loaded at 2024-03-05T03:00.

Each run reconciles (read = predicted + rejected + skipped), no posting is coded twice in SQL or in
the Parquet dataset, and the drift baseline of the last run counts each posting once. The demo
postings `make ui` loads are stamped after every interval here (INGESTED_AT), out of the way.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from test_dags import _promote
from test_overlapping_runs import (
    LATE_LOAD,
    MANUAL_LOAD,
    MANUAL_RUN_AFTER,
    NEXT_LOAD,
    NEXT_RUN_AFTER,
    _load,
    _parquet_top1,
)
from test_ui_start import DEMO_RUN, NIGHTLY, REPO, _env, _free_port, _get, _send, _stop_group

DEMO_INGESTED_AT = "2024-03-10T06:00:00Z"  # the demo postings: after every interval of this test
CONF = {"top_k": 2, "bootstrap_if_no_champion": False}  # no champion would fail the run, never train one
RUN_DEADLINE_S = 900  # one run through the scheduler on busy cores: task processes start slowly
STARTUP_DEADLINE_S = 600  # ui.sh: load the demo postings, migrate, start four Airflow components, parse the DAGs
TERMINAL = {"success", "failed"}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Api:
    """The Airflow REST API of one `airflow standalone`, logged in as admin."""

    def __init__(self, base: str, home: Path, log: Path) -> None:
        self.base, self.home, self.log = base, home, log
        password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        body = json.dumps({"username": "admin", "password": password["admin"]}).encode()
        login = urllib.request.Request(f"{base}/auth/token", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(login, timeout=30) as response:
            self.token = json.loads(response.read())["access_token"]

    def get(self, path: str) -> tuple[int, Any]:
        status, body = _get(f"{self.base}/api/v2{path}", self.token)
        return status, json.loads(body) if status == 200 else body

    def send(self, method: str, path: str, body: dict) -> tuple[int, Any]:
        status, answer = _send(method, f"{self.base}/api/v2{path}", self.token, body)
        return status, json.loads(answer) if status == 200 else answer

    def trigger(self, body: dict) -> dict:
        """``POST .../dagRuns``: the created run (queued; the scheduler starts it)."""
        status, run = self.send("POST", f"/dags/{NIGHTLY}/dagRuns", {**body, "conf": CONF})
        assert status == 200, run
        return run

    def wait_for(self, run_id: str) -> dict:
        """Poll the run until it ends; it must end in success (else its tasks and logs say why)."""
        deadline = time.monotonic() + RUN_DEADLINE_S
        run: Any = None
        while time.monotonic() < deadline:
            status, run = self.get(f"/dags/{NIGHTLY}/dagRuns/{run_id}")
            if status == 200 and run["state"] in TERMINAL:
                break
            time.sleep(3)
        assert status == 200 and run["state"] == "success", self.why(run_id, run)
        return run

    def why(self, run_id: str, run: Any) -> str:
        """What a failed or stuck run's task instances, task logs and `airflow standalone` say."""
        _, tis = self.get(f"/dags/{NIGHTLY}/dagRuns/{run_id}/taskInstances")
        states = (
            [(t["task_id"], t["map_index"], t["state"]) for t in tis["task_instances"]]
            if isinstance(tis, dict)
            else tis
        )
        logs = sorted((self.home / "airflow" / "logs").glob(f"dag_id={NIGHTLY}/run_id={run_id}/**/*.log"))
        tails = {str(p.relative_to(self.home)): p.read_text(errors="replace")[-1500:] for p in logs[-3:]}
        return (
            f"run {run_id}: {run}\ntasks: {states}\ntask logs: {json.dumps(tails, indent=1)}\n"
            + self.log.read_text()[-3000:]
        )

    def summary(self, run_id: str) -> dict:
        """The finish_run task's return value (its XCom): the counts the run reported."""
        status, entry = self.get(f"/dags/{NIGHTLY}/dagRuns/{run_id}/taskInstances/finish_run/xcomEntries/return_value")
        assert status == 200, entry
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value


def _wait_until_served(api_base: str, home: Path, process: subprocess.Popen, log: Path) -> Api:
    """Health, a login, and the nightly parsed by the dag-processor (a trigger needs its serialized DAG)."""
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while _get(f"{api_base}/api/v2/monitor/health")[0] != 200:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(2)
    api = Api(api_base, home, log)
    while api.get(f"/dags/{NIGHTLY}")[0] != 200:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(2)
    return api


def _runs(engine, until: str) -> list[tuple]:
    """This test's prediction runs (intervals ending by ``until``), oldest first. The scheduler also
    starts the DAG's latest interval when it is unpaused (catchup=False); that run reads nothing here."""
    query = sa.text(
        "SELECT run_id, interval_start, interval_end, rows_read, rows_predicted, rows_rejected, rows_skipped, status "
        "FROM prediction_runs WHERE interval_end <= :until ORDER BY interval_end"
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query, {"until": until})]


def _coded_by(engine, run_id: str) -> set[str]:
    """Postings a run predicted (rank 1) or rejected."""
    with engine.connect() as conn:
        predicted = conn.execute(
            sa.text("SELECT posting_id FROM predictions WHERE rank = 1 AND run_id = :r"), {"r": run_id}
        ).scalars()
        rejected = conn.execute(sa.text("SELECT posting_id FROM rejected_postings WHERE run_id = :r"), {"r": run_id})
        return set(predicted) | set(rejected.scalars())


def _ingested_in(engine, start: str, end: str) -> set[str]:
    query = sa.text("SELECT id FROM job_postings WHERE ingested_at >= :start AND ingested_at < :end")
    with engine.connect() as conn:
        return set(conn.execute(query, {"start": start, "end": end}).scalars())


@pytest.mark.slow
def test_rest_triggered_manual_and_scheduled_runs_code_each_posting_once(tmp_path, tiny_bundle_path):
    from jobclass.store.engine import make_engine
    from jobclass.store.run_stats import baseline_run_ids

    port = _free_port()
    env = _env(
        tmp_path,
        AIRFLOW__API__PORT=str(port),  # scripts/airflow_env.sh points the tasks' execution API at it
        INGESTED_AT=DEMO_INGESTED_AT,
    )
    log = tmp_path / "ui.log"  # a file, not a pipe nobody reads: a full pipe would stall airflow standalone
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "ui.sh")],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    engine = None
    try:
        api = _wait_until_served(f"http://127.0.0.1:{port}", tmp_path, process, log)
        # ui.sh created the jobclass database (loading the demo postings); the champion is in place
        # before the DAG is unpaused, so no run bootstraps a real model.
        engine = make_engine(env.get("JOBCLASS_DATABASE_URL") or f"sqlite:///{tmp_path / 'jobclass.db'}")
        _promote(engine, tiny_bundle_path, "tiny-champion")
        _load(engine, "manual", 4, MANUAL_LOAD)
        status, dag = api.send("PATCH", f"/dags/{NIGHTLY}", {"is_paused": False})
        assert status == 200 and dag["is_paused"] is False, dag

        manual = api.trigger({"dag_run_id": "api-manual", "logical_date": None, "run_after": _iso(MANUAL_RUN_AFTER)})
        assert manual["logical_date"] is None and manual["data_interval_start"] is None
        api.wait_for("api-manual")

        _load(engine, "late", 3, LATE_LOAD)
        scheduled = api.trigger({**DEMO_RUN, "dag_run_id": "api-scheduled"})
        assert scheduled["data_interval_start"].startswith("2024-03-04T02:00:00")
        api.wait_for("api-scheduled")

        _load(engine, "next", 2, NEXT_LOAD)
        api.trigger({"dag_run_id": "api-manual-next", "logical_date": None, "run_after": _iso(NEXT_RUN_AFTER)})
        api.wait_for("api-manual-next")

        runs = _runs(engine, "2024-03-06")
        assert [r[1:] for r in runs] == [
            ("2024-03-04T05:00:00.000000Z", "2024-03-04T12:00:00.000000Z", 4, 4, 0, 0, "success"),
            ("2024-03-04T02:00:00.000000Z", "2024-03-05T02:00:00.000000Z", 7, 3, 0, 4, "success"),
            ("2024-03-05T02:00:00.000000Z", "2024-03-05T09:00:00.000000Z", 2, 2, 0, 0, "success"),
        ]
        for _, _, _, read, predicted, rejected, skipped, _ in runs:  # every run reconciles
            assert read == predicted + rejected + skipped
        (manual_id, *_), (scheduled_id, start, end, *_), (next_id, *_) = runs
        shared = _coded_by(engine, manual_id) & _ingested_in(engine, start, end)
        assert runs[1][6] == len(shared) == 4  # skipped: exactly what the manual run coded of its interval
        assert _coded_by(engine, scheduled_id).isdisjoint(shared)

        # the counts as the runs themselves reported them, read back through the REST API
        reported = {run_id: api.summary(run_id) for run_id in ("api-manual", "api-scheduled", "api-manual-next")}
        assert [(s["rows_read"], s["predicted"], s["rejected"], s["already_coded"]) for s in reported.values()] == [
            (4, 4, 0, 0),
            (7, 3, 0, 4),
            (2, 2, 0, 0),
        ]
        assert [s["run_id"] for s in reported.values()] == [manual_id, scheduled_id, next_id]

        expected = sorted(
            [f"manual-{i}" for i in range(4)] + [f"late-{i}" for i in range(3)] + [f"next-{i}" for i in range(2)]
        )
        with engine.connect() as conn:
            top1 = conn.execute(
                sa.text("SELECT posting_id, run_id FROM predictions WHERE rank = 1 ORDER BY posting_id")
            )
            owner = dict(top1.all())
            ranks = conn.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one()
        assert sorted(owner) == expected and ranks == 2 * len(expected)  # each posting once, top_k=2 rows
        assert {owner[f"manual-{i}"] for i in range(4)} == {manual_id}  # the manual run's rows kept, not replaced

        parquet = _parquet_top1(tmp_path)
        assert sorted(parquet["posting_id"]) == expected  # no posting twice in the Parquet dataset
        assert dict(zip(parquet["posting_id"], parquet["run_id"], strict=True)) == owner

        # the drift baseline of the last run: the two runs of 2024-03-04, their postings each once
        with engine.connect() as conn:
            last = dict(
                conn.execute(sa.text("SELECT * FROM prediction_runs WHERE run_id = :r"), {"r": next_id})
                .mappings()
                .one()
            )
            baseline = baseline_run_ids(conn, last)
            counted = (
                conn.execute(
                    sa.text("SELECT posting_id FROM predictions WHERE rank = 1 AND run_id IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": baseline},
                )
                .scalars()
                .all()
            )
        assert sorted(baseline) == sorted([manual_id, scheduled_id])
        assert sorted(counted) == [p for p in expected if not p.startswith("next")]  # the 7 postings, each once
    finally:
        if engine is not None:
            engine.dispose()
        _stop_group(process)
