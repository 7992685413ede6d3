"""The jobclass API plugin, hardened: no server internals in responses, paged lists, bounded inference.

Every test runs the real app (``create_app``, lifespan included, through FastAPI's TestClient) over
a real registry and the real tiny bundle. Where a test needs a prediction to last, the loader hands
the app the real classifier behind a gate that holds ``predict`` until the test opens it.
"""

from __future__ import annotations

import datetime
import logging
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
from fastapi.testclient import TestClient

from jobclass.airflow.api.app import create_app

MODEL_FIELDS = ("version", "status", "metrics", "benchmark_hash", "created_at", "promoted_at", "reason")
GATE_TIMEOUT_S = 10.0  # a gate left shut opens by itself, so a regression fails instead of hanging


@pytest.fixture
def engine(database_url):
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    eng = make_engine(database_url)
    init_schema(eng)
    yield eng
    eng.dispose()


def _champion(engine, bundle: Path, version: str) -> None:
    from jobclass.store.registry import promote, register_model

    register_model(engine, version, bundle, {"reported-titles": {"acc@1": 0.5}}, "hash-x")
    promote(engine, version, reason="test")


def _predict_when_warm(client: TestClient, payload: dict[str, Any], timeout_s: float = 120.0):
    """POST /predict until the model is no longer warming (the load runs in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.post("/predict", json=payload)
        if response.status_code != 503 or "warming" not in response.json()["detail"] or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatedClassifier:
    """The real classifier; ``predict`` waits for the gate (open by default) and counts who entered."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.gate = threading.Event()
        self.gate.set()
        self.running = threading.Semaphore(0)

    def predict(self, title: str, body: str, top_k: int = 5):
        self.running.release()
        self.gate.wait(GATE_TIMEOUT_S)
        return self.classifier.predict(title, body, top_k=top_k)


class GatedLoader:
    """Loads the real bundle; records the thread it ran in; can be held shut like the ONNX export."""

    def __init__(self, gated_predict: bool = False, open_: bool = True) -> None:
        self.gated_predict = gated_predict
        self.gate = threading.Event()
        if open_:
            self.gate.set()
        self.called = threading.Event()
        self.threads: list[str] = []
        self.loaded: list[Any] = []

    def __call__(self, path: str):
        from jobclass.model.bundle import load_bundle

        self.threads.append(threading.current_thread().name)
        self.called.set()
        self.gate.wait(GATE_TIMEOUT_S)
        classifier = load_bundle(path)
        if self.gated_predict:
            classifier = GatedClassifier(classifier)
        self.loaded.append(classifier)
        return classifier


# --------------------------------------------------------------------------- no server internals


def _assert_no_internals(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, (secret, text)
    assert not re.search(r"\w+(Error|Exception)\b", text), text
    assert "Traceback" not in text


def test_missing_bundle_answers_an_error_id_not_the_path(engine, tiny_bundle_path, tmp_path, caplog):
    """The champion's bundle disappears: the viewer gets an error id; the path is only in the log."""
    bundle = tmp_path / "bundles" / "gone"
    shutil.copytree(tiny_bundle_path, bundle)
    _champion(engine, bundle, "gone")
    shutil.rmtree(bundle)
    caplog.set_level(logging.INFO, logger="jobclass.api")
    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as client:
        response = _predict_when_warm(client, {"title": "Welder"})
        models = client.get("/models")
    assert response.status_code == 503 and models.status_code == 200
    for text in (response.text, models.text):
        _assert_no_internals(text, str(tmp_path), str(bundle), "does not exist")
    assert [sorted(m) for m in models.json()["models"]] == [sorted(MODEL_FIELDS)]  # no "path"
    payload = response.json()
    assert re.fullmatch(r"[0-9a-f]{12}", payload["error_id"]) and payload["error_id"] in payload["detail"]
    assert "champion model gone could not be loaded" in payload["detail"]
    assert f"[error {payload['error_id']}]" in caplog.text and str(bundle) in caplog.text  # the detail is logged


def test_stored_reasons_and_details_are_scrubbed(engine, tiny_bundle_path):
    """A decision reason or a failed run's detail that quotes an exception shows no path, URL or host."""
    from jobclass.pipeline.interval import finish_run, start_run
    from jobclass.store.registry import register_model

    db_url = "postgresql+psycopg://jc_owner:pw-x@db.internal.example:5432/jobclass"
    reason = (
        f"weekly retrain: champion v0 could not be evaluated: BundleError: {tiny_bundle_path}/heads.safetensors "
        "cannot be read: corrupt; re-run, or trigger with force_promote=true"
    )
    metrics = {"gate": {"reason": reason}}
    register_model(engine, "v1", tiny_bundle_path, metrics, "hash-x", status="rejected", reason=reason)
    run_id = start_run(engine, "2024-01-01T02:00:00Z", "2024-01-02T02:00:00Z", "v1", 1)
    own = [name for name in (engine.url.host, engine.url.username) if name]  # PostgreSQL: 127.0.0.1, postgres
    error = (
        f"OperationalError: connection to {db_url} failed\nserver {' as '.join(own)} said no\n"
        'Traceback (most recent call last):\n  File "/srv/x.py"'
    )
    finish_run(engine, run_id, error=error)
    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as client:
        models, runs = client.get("/models"), client.get("/runs")
    assert models.status_code == runs.status_code == 200
    for text in (models.text, runs.text):
        _assert_no_internals(text, str(tiny_bundle_path), "db.internal.example", "jc_owner", "pw-x", "/srv/x.py", *own)
    model, run = models.json()["models"][0], runs.json()["runs"][0]
    assert sorted(model) == sorted(MODEL_FIELDS)
    assert model["reason"] == (
        "weekly retrain: champion v0 could not be evaluated: <error withheld>; "
        "re-run, or trigger with force_promote=true"
    )
    assert model["metrics"]["gate"]["reason"] == model["reason"]
    assert run["status"] == "failed" and run["detail"].startswith("<error withheld>")


def test_broken_database_url_shows_no_host_user_or_exception(monkeypatch, caplog):
    """The ``jobclass_db`` Connection points at a dead server: 503 with an error id, nothing more."""
    from jobclass.store.engine import make_engine

    port = str(_closed_port())
    monkeypatch.setenv("AIRFLOW_CONN_JOBCLASS_DB", f"postgresql://jc_secret_user@127.0.0.1:{port}/jc")
    caplog.set_level(logging.INFO, logger="jobclass.api")
    with TestClient(create_app(auth=None), raise_server_exceptions=False) as client:
        responses = [client.get("/models"), client.post("/predict", json={"title": "Nurse"}), client.get("/runs")]
    # An engine that was created but cannot connect: the registry query itself fails.
    dead = make_engine(f"postgresql+psycopg://jc_secret_user@127.0.0.1:{port}/jc")
    with TestClient(create_app(engine_factory=lambda: dead, auth=None), raise_server_exceptions=False) as client:
        responses += [client.get("/models"), client.post("/predict", json={"title": "Nurse"}), client.get("/runs")]
    dead.dispose()
    assert [r.status_code for r in responses] == [503] * 6
    for response in responses:
        _assert_no_internals(response.text, "jc_secret_user", "127.0.0.1", port, "psycopg", "postgres")
    details = [r.json()["detail"] for r in responses]
    assert all(d.startswith("jobclass database unavailable (error id ") for d in details[:3]), details
    assert details[3].startswith("model registry unavailable") and details[5].startswith("prediction runs unavailable")
    for response in responses:
        assert f"[error {response.json()['error_id']}]" in caplog.text


def test_an_unexpected_failure_is_a_500_with_an_error_id(engine, tiny_bundle_path, caplog):
    class Exploding(GatedLoader):
        def __call__(self, path: str):
            classifier = super().__call__(path)
            secret = f"cannot open {path}/encoder/model.onnx"

            def predict(*args, **kwargs):
                raise RuntimeError(secret)

            classifier.predict = predict
            return classifier

    _champion(engine, tiny_bundle_path, "v1")
    app = create_app(engine_factory=lambda: engine, bundle_loader=Exploding(), auth=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = _predict_when_warm(client, {"title": "Welder"})
    assert response.status_code == 500
    assert response.json()["detail"].startswith("internal error in the jobclass API (error id ")
    _assert_no_internals(response.text, str(tiny_bundle_path), "RuntimeError", "model.onnx")
    assert f"[error {response.json()['error_id']}]" in caplog.text and "model.onnx" in caplog.text


# --------------------------------------------------------------------------- limit and offset


def test_runs_and_models_are_paged(engine, tiny_bundle_path):
    from jobclass.pipeline.interval import start_run
    from jobclass.store.registry import register_model

    first = datetime.datetime(2024, 1, 1, 2, tzinfo=datetime.UTC)
    for hour in range(55):
        start = first + datetime.timedelta(hours=hour)
        start_run(engine, start, start + datetime.timedelta(hours=1), "v1", 1)
    for i in range(7):
        register_model(engine, f"m{i}", tiny_bundle_path, {}, None)
    newest_models = [f"m{i}" for i in range(6, -1, -1)]  # created_at descending, then version descending
    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as client:
        everything = [r["run_id"] for r in client.get("/runs", params={"limit": 200}).json()["runs"]]
        assert len(everything) == 55
        assert len(client.get("/runs").json()["runs"]) == 50  # the default page
        pages = [client.get("/runs", params={"limit": 20, "offset": off}).json()["runs"] for off in (0, 20, 40, 60)]
        assert [len(p) for p in pages] == [20, 20, 15, 0]
        assert [r["run_id"] for page in pages for r in page] == everything
        models = [client.get("/models", params={"limit": 3, "offset": off}).json()["models"] for off in (0, 3, 6)]
        assert [m["version"] for page in models for m in page] == newest_models
        assert [len(page) for page in models] == [3, 3, 1]
        assert len(client.get("/models").json()["models"]) == 7


@pytest.mark.parametrize("path", ["/runs", "/models"])
@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "offset=-1", "offset=x", "offset=1000001"])
def test_paging_parameters_are_validated(engine, path, query):
    with TestClient(create_app(engine_factory=lambda: engine, auth=None), raise_server_exceptions=False) as client:
        assert client.get(f"{path}?{query}").status_code == 422
        assert client.get(f"{path}?limit=200&offset=1000000").status_code == 200


# --------------------------------------------------------------------------- bounded inference


def test_concurrent_predictions_are_capped(engine, tiny_bundle_path, monkeypatch):
    """Two predictions run at once (the default); a third is answered 503 with Retry-After at once."""
    monkeypatch.delenv("JOBCLASS_API_MAX_CONCURRENT", raising=False)
    _champion(engine, tiny_bundle_path, "v1")
    loader = GatedLoader(gated_predict=True)
    app = create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert _predict_when_warm(client, {"title": "Welder"}).status_code == 200
        gated = loader.loaded[0]
        gated.running = threading.Semaphore(0)
        gated.gate.clear()
        results: list[int] = []

        def post() -> None:
            results.append(client.post("/predict", json={"title": "Nurse"}).status_code)

        workers = [threading.Thread(target=post) for _ in range(2)]
        for worker in workers:
            worker.start()
        for _ in range(2):
            assert gated.running.acquire(timeout=GATE_TIMEOUT_S)  # both predictions are running
        started = time.monotonic()
        busy = client.post("/predict", json={"title": "Cook"})
        assert time.monotonic() - started < GATE_TIMEOUT_S / 2  # answered at once, not queued
        gated.gate.set()
        for worker in workers:
            worker.join()
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "1" and "busy" in busy.json()["detail"]
        assert results == [200, 200]
        assert client.post("/predict", json={"title": "Cook"}).status_code == 200  # the slots were given back


def test_a_slow_prediction_is_a_504_and_keeps_its_slot_until_it_ends(engine, tiny_bundle_path, monkeypatch):
    monkeypatch.setenv("JOBCLASS_API_PREDICT_TIMEOUT_S", "0.3")
    monkeypatch.setenv("JOBCLASS_API_MAX_CONCURRENT", "1")
    _champion(engine, tiny_bundle_path, "v1")
    loader = GatedLoader(gated_predict=True)
    app = create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert _predict_when_warm(client, {"title": "Welder"}).status_code == 200
        loader.loaded[0].gate.clear()
        started = time.monotonic()
        slow = client.post("/predict", json={"title": "Nurse"})
        assert time.monotonic() - started < GATE_TIMEOUT_S / 2
        assert slow.status_code == 504, slow.text
        assert "longer than 0.3 s" in slow.json()["detail"] and slow.json()["error_id"]
        # The timed-out prediction still runs in its thread: it holds the only slot.
        assert client.post("/predict", json={"title": "Cook"}).status_code == 503
        loader.loaded[0].gate.set()
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while (response := client.post("/predict", json={"title": "Cook"})).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOBCLASS_API_MAX_CONCURRENT", "0"),
        ("JOBCLASS_API_MAX_CONCURRENT", "two"),
        ("JOBCLASS_API_MAX_CONCURRENT", "1.5"),
        ("JOBCLASS_API_PREDICT_TIMEOUT_S", "-1"),
    ],
)
def test_bad_limits_in_the_environment_are_refused_by_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        create_app(engine_factory=lambda: None, auth=None)


def test_the_model_is_warmed_at_start_never_in_a_request(engine, tiny_bundle_path):
    """The load (and so the ONNX export) starts with the app, in a background thread; until it ends
    /predict answers 503 "model warming" with Retry-After at once instead of loading in the request."""
    _champion(engine, tiny_bundle_path, "v1")
    loader = GatedLoader(open_=False)
    app = create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert loader.called.wait(GATE_TIMEOUT_S), "the champion was not loaded at start"
        started = time.monotonic()
        warming = client.post("/predict", json={"title": "Welder"})
        assert time.monotonic() - started < GATE_TIMEOUT_S / 2
        loader.gate.set()
        assert warming.status_code == 503, warming.text
        match = re.fullmatch(r"model warming, retry in (\d+) s", warming.json()["detail"])
        assert match and warming.headers["Retry-After"] == match.group(1)
        assert _predict_when_warm(client, {"title": "Welder"}).status_code == 200
    assert loader.threads == ["jobclass-warm"]  # one load, in the warm-up thread


def test_a_new_champion_is_warmed_in_the_background(engine, tiny_bundle_path, tmp_path):
    """After a promotion the previous champion answers at once (no 503) while the new one warms in
    the background; then the new one answers (tests/integration/test_champion_swap.py in full)."""
    _champion(engine, tiny_bundle_path, "v1")
    loader = GatedLoader()
    app = create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert _predict_when_warm(client, {"title": "Welder"}).json()["model_version"] == "v1"
        loader.gate.clear()
        shutil.copytree(tiny_bundle_path, tmp_path / "v2")
        _champion(engine, tmp_path / "v2", "v2")
        started = time.monotonic()
        meanwhile = client.post("/predict", json={"title": "Welder"})
        assert time.monotonic() - started < GATE_TIMEOUT_S / 2
        assert meanwhile.status_code == 200 and meanwhile.json()["model_version"] == "v1", meanwhile.text
        loader.gate.set()
        deadline = time.monotonic() + 120
        while (answer := client.post("/predict", json={"title": "Welder"})).json().get("model_version") != "v2":
            assert answer.status_code == 200 and time.monotonic() < deadline, answer.text
            time.sleep(0.05)
    assert loader.threads == ["jobclass-warm", "jobclass-warm"]
