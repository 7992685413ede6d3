"""jobclass.airflow.api.champion: the no-champion help, the registry read and the background warm-up."""

from __future__ import annotations

import re
import threading
import time

import pytest

from jobclass.airflow.api.champion import NO_CHAMPION_MESSAGE, ChampionWarmer, read_champion
from jobclass.airflow.api.errors import ApiError
from jobclass.pipeline.errors import NO_CHAMPION_HELP


def test_the_no_champion_message_is_the_pipelines_help_said_from_the_api():
    assert NO_CHAMPION_MESSAGE != NO_CHAMPION_HELP, "the API no longer names the DAG to trigger"
    assert "this DAG" not in NO_CHAMPION_MESSAGE and "`jobclass_nightly_classify` DAG" in NO_CHAMPION_MESSAGE
    assert NO_CHAMPION_MESSAGE.startswith("No champion model")


def test_every_command_the_no_champion_message_names_is_accepted_by_the_cli():
    from jobclass.cli import build_parser

    commands = re.findall(r"`(jobclass [^`]*)`", NO_CHAMPION_MESSAGE)
    assert commands, NO_CHAMPION_MESSAGE
    parser = build_parser()
    for command in commands:
        parser.parse_args(command.split()[1:])  # exits (SystemExit) on a flag or value it does not know
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--promote"])  # the check catches what the old message said


def test_read_champion_answers_503_without_a_champion_or_a_registry(monkeypatch, caplog):
    import jobclass.store.registry as registry

    monkeypatch.setattr(registry, "get_champion", lambda engine: None)
    with pytest.raises(ApiError) as none:
        read_champion(object())
    assert none.value.status_code == 503 and none.value.detail == NO_CHAMPION_MESSAGE

    def broken(engine):
        raise RuntimeError("no such table: model_versions at /srv/db")

    monkeypatch.setattr(registry, "get_champion", broken)
    with pytest.raises(ApiError) as down:
        read_champion(object())
    assert down.value.detail.startswith("model registry unavailable (error id ") and "/srv" not in down.value.detail


def _wait(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_the_warmer_loads_in_the_background_once_and_answers_warming_until_then():
    gate, calls = threading.Event(), []

    def loader(path: str) -> str:
        calls.append((path, threading.current_thread().name))
        gate.wait(5)
        return f"classifier from {path}"

    warmer = ChampionWarmer(loader, first_estimate_s=3)
    for _ in range(3):
        with pytest.raises(ApiError) as warming:
            warmer.get("v1", "/b/v1")
        assert warming.value.status_code == 503 and warming.value.retry_after in (1, 2, 3)
        assert warming.value.detail == f"model warming, retry in {warming.value.retry_after} s"
    gate.set()
    _wait(lambda: warmer.ready_version == "v1")
    assert warmer.get("v1", "/b/v1") == ("v1", "classifier from /b/v1")
    assert calls == [("/b/v1", "jobclass-warm")]


def test_after_a_promotion_the_previous_champion_serves_until_the_new_one_is_warm(caplog):
    gates = {"/b/v1": threading.Event(), "/b/v2": threading.Event(), "/b/v3": threading.Event()}
    gates["/b/v1"].set()
    calls = []

    def loader(path: str) -> str:
        calls.append(path)
        gates[path].wait(5)
        if path == "/b/v3":
            raise OSError("heads.safetensors is corrupt")
        return f"classifier from {path}"

    warmer = ChampionWarmer(loader, retry_failed_s=60)
    warmer.start("v1", "/b/v1")
    _wait(lambda: warmer.ready_version == "v1")
    for _ in range(3):  # v2 promoted: loading, v1 answers meanwhile (no 503)
        assert warmer.get("v2", "/b/v2") == ("v1", "classifier from /b/v1")
    _wait(lambda: len(calls) >= 2)  # the background load has started (its thread may not have run yet)
    assert calls == ["/b/v1", "/b/v2"]  # one load of v2, in the background
    gates["/b/v2"].set()
    _wait(lambda: warmer.ready_version == "v2")
    assert warmer.get("v2", "/b/v2") == ("v2", "classifier from /b/v2")

    gates["/b/v3"].set()  # v3 promoted but cannot load: v2 goes on serving, v3 is not retried at once
    assert warmer.get("v3", "/b/v3") == ("v2", "classifier from /b/v2")
    _wait(lambda: warmer._loading is None)
    assert warmer.get("v3", "/b/v3") == ("v2", "classifier from /b/v2")
    assert calls == ["/b/v1", "/b/v2", "/b/v3"] and "champion model v3 could not be loaded" in caplog.text


def test_a_failed_load_is_answered_with_its_error_id_then_retried(caplog):
    attempts = []

    def loader(path: str) -> str:
        attempts.append(path)
        if len(attempts) == 1:
            raise OSError(f"{path}/heads.safetensors is corrupt")
        return "ok"

    warmer = ChampionWarmer(loader, retry_failed_s=0.2)
    warmer.start("v1", "/b/v1")
    _wait(lambda: attempts and warmer._loading is None)
    with pytest.raises(ApiError) as failed:
        warmer.get("v1", "/b/v1")
    assert failed.value.detail.startswith("champion model v1 could not be loaded") and "/b/v1" not in failed.value.detail
    assert f"[error {failed.value.error_id}]" in caplog.text and "heads.safetensors" in caplog.text
    time.sleep(0.25)
    with pytest.raises(ApiError, match="warming"):  # after the wait, loaded again
        warmer.get("v1", "/b/v1")
    _wait(lambda: warmer.ready_version == "v1")
    assert attempts == ["/b/v1", "/b/v1"]
