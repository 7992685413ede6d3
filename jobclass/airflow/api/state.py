"""What the routes share: the database engine (made once, on first use), the warm champion, the
prediction and report slots, and the kept run reports. One :class:`ApiState` per app, in
``app.state.jobclass``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from jobclass.airflow.api.champion import ChampionWarmer
from jobclass.airflow.api.errors import unavailable
from jobclass.airflow.api.limits import PredictionSlots
from jobclass.airflow.api.report_cache import ReportCache


@dataclass
class ApiState:
    engine_factory: Callable[[], Any]
    warmer: ChampionWarmer
    slots: PredictionSlots
    report_slots: PredictionSlots
    reports: ReportCache = field(default_factory=ReportCache)
    _engine: Any = None
    _engine_lock: threading.Lock = field(default_factory=threading.Lock)

    def engine(self) -> Any:
        """The engine, made on first use; 503 (with an error id, the cause only logged) when it cannot be."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    try:
                        self._engine = self.engine_factory()
                    except Exception as exc:
                        raise unavailable("jobclass database unavailable", "jobclass database unavailable") from exc
        return self._engine


def api_state(request: Request) -> ApiState:
    """FastAPI dependency: this app's :class:`ApiState`."""
    return request.app.state.jobclass
