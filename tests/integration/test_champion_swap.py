"""A promotion does not interrupt ``/predict``: the previous champion answers until the new one is warm.

The real app (``create_app``, lifespan included) over a real registry and two real bundles: the tiny
bundle as ``v1``, and a copy of it as ``v2``. The loader is the real ``load_bundle``, held behind a
gate for ``v2`` as a slow ONNX export would hold it.
"""

from __future__ import annotations

import shutil
import threading
import time

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
from fastapi.testclient import TestClient

GATE_TIMEOUT_S = 60.0  # a gate left shut opens by itself, so a regression fails instead of hanging
PAYLOAD = {"title": "Registered Nurse", "body": "Provide patient care in a hospital ward.", "top_k": 3}


class GatedLoader:
    """The real ``load_bundle``; a load of a path in ``held`` waits for ``gate``."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.gate = threading.Event()
        self.started: list[tuple[str, str]] = []

    def __call__(self, path: str):
        from jobclass.model.bundle import load_bundle

        self.started.append((str(path), threading.current_thread().name))
        if str(path) == self.held:
            self.gate.wait(GATE_TIMEOUT_S)
        return load_bundle(path)


def _champion(engine, bundle, version: str) -> None:
    from jobclass.store.registry import promote, register_model

    register_model(engine, version, bundle, {"reported-titles": {"acc@1": 0.5}}, "hash-x")
    promote(engine, version, reason="test")


def _until(client: TestClient, done, timeout_s: float = 180.0):
    """POST /predict until ``done(response)``; every answer on the way is kept."""
    answers = []
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.post("/predict", json=PAYLOAD)
        answers.append(response)
        if done(response) or time.monotonic() > deadline:
            return answers
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_previous_champion_answers_until_the_new_one_is_warm(engine, tiny_bundle_path, tmp_path):
    from jobclass.airflow.api.app import create_app

    second = tmp_path / "v2"
    shutil.copytree(tiny_bundle_path, second)
    loader = GatedLoader(held=str(second))
    _champion(engine, tiny_bundle_path, "v1")
    with TestClient(create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)) as client:
        first = _until(client, lambda r: r.status_code == 200)[-1]  # at start, nothing loaded: 503 warming
        assert first.status_code == 200 and first.json()["model_version"] == "v1", first.text

        _champion(engine, second, "v2")
        during = [client.post("/predict", json=PAYLOAD) for _ in range(5)]
        assert [(r.status_code, r.json()["model_version"]) for r in during] == [(200, "v1")] * 5
        assert [r.json()["predictions"] for r in during] == [first.json()["predictions"]] * 5
        assert loader.started == [(str(tiny_bundle_path), "jobclass-warm"), (str(second), "jobclass-warm")]

        loader.gate.set()
        after = _until(client, lambda r: r.status_code != 200 or r.json()["model_version"] == "v2")
        assert all(r.status_code == 200 for r in after), [r.text for r in after if r.status_code != 200]
        assert after[-1].json()["model_version"] == "v2"
        assert after[-1].json()["predictions"] == first.json()["predictions"]  # v2 is a copy of v1's bundle
        assert client.app.state.warmer.ready_version == "v2" and len(loader.started) == 2
