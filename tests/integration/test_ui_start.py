"""`make ui` (scripts/ui.sh): the jobclass-managed airflow.cfg, the DAGs Airflow then sees, and the
UI itself started by `airflow standalone` on a spare port and stopped again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_IDS = {"jobclass_nightly_classify", "jobclass_weekly_retrain"}


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: none of this test session's Airflow settings, only JOBCLASS_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_JOBCLASS_AIRFLOW"))}
    return {**env, "JOBCLASS_HOME": str(home), **extra}


def _config_only(home: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO / "scripts" / "ui.sh"), "--config-only"], env=_env(home, **extra), capture_output=True, text=True,
        timeout=240,
    )


def _cfg(home: Path) -> str:
    return (home / "airflow" / "airflow.cfg").read_text()


def test_the_config_step_writes_a_managed_cfg_and_prints_the_login(tmp_path):
    done = _config_only(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    cfg = _cfg(tmp_path)
    assert cfg.startswith("# jobclass-managed airflow.cfg")
    assert f"dags_folder = {REPO / 'dags'}\n" in cfg and f"plugins_folder = {REPO / 'plugins'}\n" in cfg
    assert "load_examples = False\n" in cfg and "host = 127.0.0.1\n" in cfg
    passwords = json.loads((tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
    assert "==> Airflow UI:  http://127.0.0.1:8080" in done.stdout
    assert "login:       admin" in done.stdout and f"password:    {passwords['admin']}" in done.stdout
    assert "2024-03-05T02:00:00Z" in done.stdout

    listed = subprocess.run(
        ["airflow", "dags", "list", "--local", "-o", "json"],  # parsed from dags_folder, not the DB
        env=_env(tmp_path, AIRFLOW_HOME=str(tmp_path / "airflow"), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"),
        capture_output=True, text=True, timeout=240,
    )
    assert listed.returncode == 0, listed.stderr
    dags = json.loads(listed.stdout[listed.stdout.rindex("\n[") + 1 :])  # the JSON follows Airflow's warnings
    assert {d["dag_id"] for d in dags} == DAG_IDS  # and no example DAG

    # Rewritten on the next run with the same secrets; a hand-edited cfg is left alone.
    secrets = [line for line in cfg.splitlines() if line.startswith(("fernet_key", "secret_key", "jwt_secret"))]
    assert len(secrets) == 3
    from jobclass.airflow.local_config import write_local_config

    assert write_local_config(tmp_path / "airflow", REPO)
    assert [line for line in _cfg(tmp_path).splitlines() if line.startswith(("fernet_key", "secret_key", "jwt_"))] == secrets
    edited = "[core]\ndags_folder = /my/dags\n"
    (tmp_path / "airflow" / "airflow.cfg").write_text(edited)
    assert not write_local_config(tmp_path / "airflow", REPO)
    assert _cfg(tmp_path) == edited


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    return _send("GET", url, token)


def _send(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:  # not listening yet
        return 0, b""


NIGHTLY = "jobclass_nightly_classify"
# The interval of `make ui`'s demo run: the demo postings are loaded with ingested_at 2024-03-04T06:00Z.
DEMO_RUN = {
    "dag_run_id": "ui-test-demo-night",
    "logical_date": "2024-03-05T02:00:00Z",
    "data_interval_start": "2024-03-04T02:00:00Z",
    "data_interval_end": "2024-03-05T02:00:00Z",
}


@pytest.mark.slow
def test_make_ui_serves_the_jobclass_dags_and_the_run_report_tab(tmp_path, tiny_classifier):
    """The UI `make ui` starts lists the two DAGs and the plugin's "Run report" tab; for a real DAG
    run (triggered through the REST API, its DAG paused so that it stays queued) the tab finds the
    run's interval in Airflow's metadata, says no prediction run is recorded yet, and once one is,
    renders that run's report with its counts."""
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import make_engine

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, AIRFLOW__API__PORT=str(port))
    log = tmp_path / "ui.log"  # a file, not a pipe nobody reads: a full pipe would stall airflow standalone
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "ui.sh")], env=env,
            stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 150
        while _get(f"{base}/api/v2/monitor/health")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(2)
        password = json.loads((tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        body = json.dumps({"username": "admin", "password": password["admin"]}).encode()
        login = urllib.request.Request(f"{base}/auth/token", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(login, timeout=10) as response:
            token = json.loads(response.read())["access_token"]
        status, dags = _get(f"{base}/api/v2/dags", token)
        assert status == 200 and {d["dag_id"] for d in json.loads(dags)["dags"]} == DAG_IDS
        status, plugins = _get(f"{base}/api/v2/plugins", token)
        assert status == 200, plugins
        views = {v["name"]: v for p in json.loads(plugins)["plugins"] for v in p["external_views"]}
        assert views["Run report"]["href"] == "jobclass/report/{DAG_ID}/{RUN_ID}"

        report = f"{base}/jobclass/report/{NIGHTLY}"
        assert _get(f"{report}/{DEMO_RUN['dag_run_id']}")[0] == 401  # no token
        status, page = _get(f"{report}/no-such-run", token)
        assert status == 200 and b"has not resolved its interval" in page

        assert _send("PATCH", f"{base}/api/v2/dags/{NIGHTLY}", token, {"is_paused": True})[0] == 200
        status, created = _send("POST", f"{base}/api/v2/dags/{NIGHTLY}/dagRuns", token, DEMO_RUN)
        assert status == 200, created
        interval = ("2024-03-04T02:00:00+00:00", "2024-03-05T02:00:00+00:00")  # the run's data interval
        status, page = _get(f"{report}/{DEMO_RUN['dag_run_id']}", token)
        assert status == 200
        text = page.decode()
        assert f"{NIGHTLY} / {DEMO_RUN['dag_run_id']}" in text and f"[{interval[0]}, {interval[1]})" in text
        assert "No prediction run is recorded for this interval yet" in text
        assert "has not resolved its interval" not in text

        # The night's prediction run, in the jobclass database `make ui` loaded the demo postings into.
        engine = make_engine(env.get("JOBCLASS_DATABASE_URL") or f"sqlite:///{tmp_path / 'jobclass.db'}")
        try:
            run = classify_interval(engine, tiny_classifier, *interval, top_k=2, out_dir=tmp_path / "predictions")
        finally:
            engine.dispose()
        assert run.status == "success" and run.rows_read > 0
        status, page = _get(f"{report}/{DEMO_RUN['dag_run_id']}", token)
        assert status == 200, page.decode() + log.read_text()[-3000:]
        text = page.decode()
        assert f"<dt>Prediction run</dt><dd>{run.run_id}</dd>" in text
        for count, label in ((run.rows_read, "rows read"), (run.rows_predicted, "predicted")):
            assert f"<b>{count:,}</b><span>{label}</span>" in text
        assert "No prediction run is recorded" not in text
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """Ctrl-C to `airflow standalone` and its components (one process group), then SIGKILL what is left."""
    os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(process.pid):
        process.poll()
        time.sleep(1)
    if _alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _alive(group: int) -> bool:
    """Whether a process of ``group`` still runs (zombies, left to init to reap, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False
