"""jobclass.airflow.api.limits: the request size limit, the prediction slots and the settings."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from jobclass.airflow.api.errors import ApiError
from jobclass.airflow.api.limits import (
    BodySizeLimitMiddleware,
    PredictionSlots,
    env_number,
    prediction_slots,
    report_slots,
)


@pytest.fixture
def echo_client():
    app = FastAPI()
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=10)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"received": (await request.body()).decode()}

    with TestClient(app) as client:
        yield client


def test_bodies_up_to_the_limit_pass_and_larger_ones_are_413(echo_client):
    assert echo_client.post("/echo", content=b'{"a": 12}').json() == {"received": '{"a": 12}'}  # 9 bytes
    assert echo_client.post("/echo", content=iter([b"12345", b"67890"])).json() == {"received": "1234567890"}
    big = echo_client.post("/echo", content=b'{"a": 1234}')
    assert big.status_code == 413 and big.json() == {"detail": "request body is larger than 10 bytes"}
    streamed = echo_client.post("/echo", content=iter([b'{"a": ', b"12345", b"}"]))  # no Content-Length
    assert streamed.status_code == 413
    assert echo_client.post("/echo", content=b"{}", headers={"content-length": "x"}).status_code == 400


def test_a_prediction_beyond_the_slots_is_busy_and_a_slow_one_times_out():
    gate = threading.Event()

    async def scenario() -> tuple[ApiError, ApiError, int]:
        slots = PredictionSlots(1, timeout_s=0.1)
        with pytest.raises(ApiError) as slow:
            await slots.run(lambda: gate.wait(5))
        with pytest.raises(ApiError) as busy:  # the timed-out work still holds the only slot
            await slots.run(lambda: 1)
        gate.set()
        for _ in range(100):
            try:
                return slow.value, busy.value, await slots.run(lambda: 7)
            except ApiError:
                await asyncio.sleep(0.02)
        raise AssertionError("the slot was never given back")

    slow, busy, result = asyncio.run(scenario())
    assert slow.status_code == 504 and "longer than 0.1 s" in slow.detail and slow.error_id in slow.detail
    assert busy.status_code == 503 and busy.retry_after == 1 and busy.detail.startswith("busy: 1 predictions")
    assert result == 7


def test_settings_come_from_the_arguments_or_the_environment(monkeypatch):
    monkeypatch.delenv("JOBCLASS_API_MAX_CONCURRENT", raising=False)
    monkeypatch.setenv("JOBCLASS_API_PREDICT_TIMEOUT_S", "2.5")
    slots = prediction_slots()
    assert (slots.size, slots.timeout_s) == (2, 2.5)
    slots = prediction_slots(max_concurrent=4, timeout_s=1.0)
    assert (slots.size, slots.timeout_s) == (4, 1.0)


def test_the_report_slots_have_settings_and_names_of_their_own(monkeypatch):
    monkeypatch.setenv("JOBCLASS_API_MAX_CONCURRENT", "7")  # the predictions' setting: not the reports'
    monkeypatch.delenv("JOBCLASS_API_MAX_CONCURRENT_REPORTS", raising=False)
    monkeypatch.setenv("JOBCLASS_API_REPORT_TIMEOUT_S", "12")
    slots = report_slots()
    assert (slots.size, slots.timeout_s, slots.many) == (2, 12.0, "run reports")
    monkeypatch.setenv("JOBCLASS_API_MAX_CONCURRENT_REPORTS", "0")
    with pytest.raises(ValueError, match="JOBCLASS_API_MAX_CONCURRENT_REPORTS"):
        report_slots()


@pytest.mark.parametrize(("raw", "kind", "error"), [("0", int, ">= 1"), ("two", int, "not a valid int"),
                                                     ("nan", float, ">= 1"), ("inf", float, ">= 1")])
def test_a_bad_setting_is_refused_by_name(monkeypatch, raw, kind, error):
    monkeypatch.setenv("JOBCLASS_X", raw)
    with pytest.raises(ValueError, match=f"JOBCLASS_X.*{error}"):
        env_number("JOBCLASS_X", 2, 1, kind)
    monkeypatch.setenv("JOBCLASS_X", " ")
    assert env_number("JOBCLASS_X", 2, 1, kind) == 2
