"""jobclass.evaluation.charts draws without matplotlib's global state: charts drawn in many threads
at once are the charts drawn alone, matplotlib's global ``rcParams`` are never changed (not even
for a moment), and a process that changed them gets the same charts."""

from __future__ import annotations

import threading
import time

import matplotlib
import pytest

from jobclass.evaluation.charts import bar_chart, line_chart

WATCHED = ("svg.fonttype", "svg.hashsalt", "font.size", "axes.spines.top", "axes.spines.right")


def _charts(i: int) -> list[str]:
    """Three charts whose content depends on ``i``."""
    shares = [((i + k) % 7) / 7 for k in range(5)]
    return [
        bar_chart(["a $1", "b", "c", "d", "e"], [("this run", shares), ("trailing", shares[::-1])], key=f"b{i}",
                  xlabel="share", percent=True),
        bar_chart([f"{k / 10:.1f}" for k in range(10)], [("this run", [(k * i) % 5 / 5 for k in range(10)])],
                  key="scores", xlabel="top-1 score", horizontal=False, percent=True),
        line_chart([("acc@1", [(1, 0.3 + i / 100), (2, 0.5)]), ("mrr", [(1, 0.4), (3, 0.6)])], key=f"l{i}",
                   xlabel="epoch", ylabel="score"),
    ]  # fmt: skip


def test_charts_drawn_at_once_in_many_threads_are_the_charts_drawn_alone():
    alone = {i: _charts(i) for i in range(6)}
    settings = {k: matplotlib.rcParams[k] for k in WATCHED}
    changed, stop = [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = {k: matplotlib.rcParams[k] for k in WATCHED}
            if now != settings:
                changed.append(now)
            time.sleep(0.0002)

    drawn: dict[tuple[int, int], list[str]] = {}
    start = threading.Barrier(12)

    def draw(i: int, copy: int) -> None:
        start.wait(30)
        drawn[(i, copy)] = _charts(i)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=draw, args=(i, c)) for i in range(6) for c in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stop.set()
    watcher.join()
    assert len(drawn) == 12
    assert all(drawn[(i, c)] == alone[i] for i, c in drawn)
    assert changed == []
    assert {k: matplotlib.rcParams[k] for k in WATCHED} == settings


def test_charts_do_not_depend_on_the_global_settings():
    expected = _charts(3)
    with matplotlib.rc_context(
        {"svg.fonttype": "path", "svg.hashsalt": None, "font.size": 20, "axes.spines.top": True,
         "axes.spines.right": True}
    ):  # fmt: skip
        assert _charts(3) == expected
    svg = expected[0]
    assert "<text" in svg and "<path id=\"DejaVu" not in svg  # text stays text
    assert "font-size: 9px" in svg and "font-size: 10px" not in svg  # this module's size, not the default


@pytest.mark.parametrize("key", ["scores", "major groups"])
def test_the_same_chart_is_the_same_bytes(key):
    one = bar_chart(["a", "b"], [("x", [0.1, 0.2])], key=key, xlabel="s")
    assert one == bar_chart(["a", "b"], [("x", [0.1, 0.2])], key=key, xlabel="s")
