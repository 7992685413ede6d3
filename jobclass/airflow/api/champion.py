"""The champion model, read from the registry and kept warm in a background thread.

Loading a bundle (which may export the encoder to ONNX) never happens in a request: the champion is
warmed in a background thread when the API server starts and again whenever the champion changes.
After a promotion the model that was serving keeps serving (each answer names the version that made
it) until the new champion is warm, then the new one takes over in one swap; only when no model has
been loaded yet (the server just started) does ``/predict`` answer 503 ``model warming, retry in N s``
with ``Retry-After: N``. Without a champion the API answers 503 and says how to get one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from jobclass.airflow.api.errors import SERVICE_UNAVAILABLE, ApiError, new_error_id, unavailable
from jobclass.pipeline.errors import NO_CHAMPION_HELP

log = logging.getLogger("jobclass.api")

FIRST_WARM_ESTIMATE_S = 10.0  # Retry-After while the first load runs; later loads use the last load's time
RETRY_FAILED_LOAD_S = 30.0  # a bundle that failed to load is tried again after this long

#: The pipelines' help text, said from the API (which is not inside a DAG).
NO_CHAMPION_MESSAGE = NO_CHAMPION_HELP.replace("trigger this DAG", "trigger the `jobclass_nightly_classify` DAG")


def read_champion(engine: Any) -> Any:
    """The champion's ``ModelVersion``; 503 without one, or when the registry cannot be read."""
    from jobclass.store.registry import get_champion

    try:
        champion = get_champion(engine)
    except Exception as exc:  # missing schema, database down
        raise unavailable("model registry unavailable", "could not read the model registry") from exc
    if champion is None:
        raise ApiError(SERVICE_UNAVAILABLE, NO_CHAMPION_MESSAGE)
    return champion


def load_bundle(path: str) -> Any:
    """The default loader: the bundle's classifier (imports the model stack on first use)."""
    from jobclass.model.bundle import load_bundle as load

    return load(path)


class ChampionWarmer:
    """The champion classifier, loaded in a background thread and never inside a request.

    Loading a bundle may export its encoder to ONNX, seconds to minutes of CPU: far too long for
    a request. :meth:`get` returns the champion's classifier when it is warm. When it is not, it
    starts the load (one at a time) and returns the classifier that is serving, an older champion,
    if there is one: the new one replaces it atomically once loaded (for that moment both are in
    memory). With none loaded yet it answers 503 with an estimate of when to retry. A failed load
    is logged with an error id and tried again after ``retry_failed_s``; meanwhile the model that
    was serving goes on serving, or, with none, the answer is a 503 with that id.
    """

    def __init__(
        self,
        loader: Callable[[str], Any] = load_bundle,
        first_estimate_s: float = FIRST_WARM_ESTIMATE_S,
        retry_failed_s: float = RETRY_FAILED_LOAD_S,
    ) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._version: str | None = None
        self._classifier: Any = None
        self._loading: tuple[str, float] | None = None  # version, monotonic start
        self._failure: tuple[str, str, float] | None = None  # version, error id, monotonic time
        self._estimate_s = first_estimate_s
        self._retry_failed_s = retry_failed_s

    @property
    def ready_version(self) -> str | None:
        """The version that is loaded and serving, if any."""
        return self._version

    def start(self, version: str, path: str) -> None:
        """Begin loading ``version`` in the background, unless it is warm or a load is running."""
        with self._lock:
            self._start_locked(version, path)

    def get(self, version: str, path: str) -> tuple[str, Any]:
        """``(serving version, classifier)``: ``version``'s when it is warm, else (while ``version`` loads
        in the background) the one serving until then; 503 when none is loaded."""
        with self._lock:
            if self._version == version:
                return version, self._classifier
            failure = self._failure
            failed_recently = (
                failure is not None and failure[0] == version and time.monotonic() - failure[2] < self._retry_failed_s
            )
            if not failed_recently:
                self._start_locked(version, path)
            if self._version is not None:  # the previous champion serves until the new one is warm
                return self._version, self._classifier
            if failed_recently:
                assert failure is not None
                raise ApiError(
                    SERVICE_UNAVAILABLE,
                    f"champion model {version} could not be loaded; promote a good version or retrain "
                    f"(error id {failure[1]})",
                    error_id=failure[1],
                )
            assert self._loading is not None
            retry = max(1, math.ceil(self._estimate_s - (time.monotonic() - self._loading[1])))
        raise ApiError(SERVICE_UNAVAILABLE, f"model warming, retry in {retry} s", retry_after=retry)

    def _start_locked(self, version: str, path: str) -> None:
        if self._version == version or self._loading is not None:
            return
        self._loading = (version, time.monotonic())
        threading.Thread(target=self._load, args=(version, path), name="jobclass-warm", daemon=True).start()

    def _load(self, version: str, path: str) -> None:
        started = time.monotonic()
        classifier, failure = None, None
        log.info("Warming champion model %s from %s", version, path)
        try:
            classifier = self._loader(path)
        except Exception:  # BundleError, out of memory, an export error: all answered 503
            failure = (version, new_error_id(), time.monotonic())
            log.exception("[error %s] champion model %s could not be loaded from %s", failure[1], version, path)
        finally:
            with self._lock:
                self._loading = None
                if classifier is not None:
                    self._version, self._classifier, self._failure = version, classifier, None
                    self._estimate_s = time.monotonic() - started
                elif failure is not None:
                    self._failure = failure
        if classifier is not None:
            log.info("Champion model %s is warm (%.1f s)", version, time.monotonic() - started)
