"""Finished runs' reports, built once and kept.

A run's report (its SQL aggregates and three charts) changes only with its inputs: the run's own
``prediction_runs`` row and the runs of its baseline (:func:`jobclass.store.run_stats.report_inputs`
gives them as a key). A finished run's report is built the first time it is asked for and served
from memory after that, until its key changes (a re-run, a baseline night added or re-run); a
running run's report is built on every request and never kept.

Several requests for a report not built yet build it once: the first builds, the others wait for
it (:meth:`ReportCache.get_or_build`, called in a report slot's thread, :mod:`.limits`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

#: Reports kept, the least recently used dropped first (one is a few hundred KiB of SVG at most).
MAX_CACHED_REPORTS = 64


class ReportCache:
    """Built reports by key, at most ``max_entries``; ``builds`` counts the builds it ran."""

    def __init__(self, max_entries: int = MAX_CACHED_REPORTS) -> None:
        self.max_entries = max_entries
        self.builds = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Event] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def cached(self, key: Hashable) -> Any | None:
        """The report kept under ``key``, or None."""
        with self._lock:
            return self._hit(key)

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The report under ``key``, built by ``build`` if no one has yet. Blocks while another thread
        builds the same key, then returns that build's report; if that build failed (raised, or built
        None: nothing to report, e.g. the run was deleted meanwhile), this thread builds it again.
        Neither a failure nor None is kept."""
        while True:
            with self._lock:
                hit = self._hit(key)
                if hit is not None:
                    return hit
                building = self._building.get(key)
                if building is None:
                    building = self._building[key] = threading.Event()
                    self.builds += 1
                    break
            building.wait()
        try:
            value = build()
            if value is not None:
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._building[key]
            building.set()

    def _hit(self, key: Hashable) -> Any | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value
