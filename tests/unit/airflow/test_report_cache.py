"""jobclass.airflow.api.report_cache: a finished run's report is built once, whoever asks at the same
time; a failed or empty build is not kept; the least recently used report goes first."""

from __future__ import annotations

import threading

import pytest

from jobclass.airflow.api.report_cache import ReportCache


def test_requests_at_once_build_a_report_once():
    cache, calls, release = ReportCache(), [], threading.Event()

    def build() -> str:
        calls.append(threading.current_thread().name)
        release.wait(10)
        return "report"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_build("k", build))) for _ in range(5)]
    for thread in threads:
        thread.start()
    while not calls:
        threading.Event().wait(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["report"] * 5 and len(calls) == 1 and cache.builds == 1
    assert cache.cached("k") == "report" and cache.get_or_build("k", build) == "report" and cache.builds == 1


def test_a_failed_or_empty_build_is_not_kept():
    cache = ReportCache()

    def broken() -> str:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        cache.get_or_build("k", broken)
    assert cache.get_or_build("k", lambda: None) is None and cache.cached("k") is None and len(cache) == 0
    assert cache.get_or_build("k", lambda: "report") == "report" and cache.builds == 3


def test_the_least_recently_used_report_goes_first():
    cache = ReportCache(max_entries=2)
    cache.get_or_build("a", lambda: "A")
    cache.get_or_build("b", lambda: "B")
    assert cache.cached("a") == "A"  # a is now the most recently used
    cache.get_or_build("c", lambda: "C")
    assert (cache.cached("a"), cache.cached("b"), cache.cached("c")) == ("A", None, "C")
