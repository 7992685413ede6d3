"""Bounds on what a request may cost: the request body size, and the predictions and run reports
running at once.

A request body over 512 KiB is refused with 413 before it is read into memory or parsed (before
authentication too). Predictions run inside the API server, so they are bounded: at most
``JOBCLASS_API_MAX_CONCURRENT`` (default 2) at once, further ones answered 503 with
``Retry-After``; each awaited at most ``JOBCLASS_API_PREDICT_TIMEOUT_S`` seconds (default 30), then 504.
Building a run report (its SQL aggregates and three charts) is bounded the same way, in slots of its
own: ``JOBCLASS_API_MAX_CONCURRENT_REPORTS`` (default 2) and ``JOBCLASS_API_REPORT_TIMEOUT_S``
(default 30). A finished run's report is built once and kept (:mod:`.report_cache`), so only a
report not seen yet takes a slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.responses import JSONResponse

from jobclass.airflow.api.errors import SERVICE_UNAVAILABLE, ApiError, new_error_id

log = logging.getLogger("jobclass.api")

MAX_REQUEST_BYTES = 512 * 1024
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_PREDICT_TIMEOUT_S = 30.0
DEFAULT_MAX_CONCURRENT_REPORTS = 2
DEFAULT_REPORT_TIMEOUT_S = 30.0
BUSY_RETRY_AFTER_S = 1
GATEWAY_TIMEOUT = 504


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 before the app (or auth) sees them.

    A declared Content-Length over the limit is refused at once; otherwise the body is read here,
    never more than ``max_bytes``, and replayed to the app, so a chunked upload cannot slip past.
    """

    def __init__(self, app: Callable, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await self._reject(send, 413, self._too_large())
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> dict:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body is larger than {self.max_bytes:,} bytes"

    @staticmethod
    async def _reject(send: Callable, code: int, detail: str) -> None:
        response = JSONResponse({"detail": detail}, status_code=code)
        await send({"type": "http.response.start", "status": code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class PredictionSlots:
    """At most ``size`` pieces of work at once (predictions, or run reports: ``what`` names them in
    the answers), each awaited at most ``timeout_s`` seconds.

    Work that times out cannot be stopped (it is CPU work in a thread): it keeps its slot until it
    really ends, so the cap bounds the work actually running, not only the requests.
    """

    def __init__(self, size: int, timeout_s: float, what: tuple[str, str] = ("prediction", "predictions")) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self.one, self.many = what
        self._free = threading.BoundedSemaphore(size)
        prefix = "jobclass-" + self.one.replace(" ", "-")
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=prefix)

    async def run(self, work: Callable[[], Any]) -> Any:
        if not self._free.acquire(blocking=False):
            raise ApiError(
                SERVICE_UNAVAILABLE,
                f"busy: {self.size} {self.many} are running; retry in {BUSY_RETRY_AFTER_S} s",
                retry_after=BUSY_RETRY_AFTER_S,
            )
        try:
            future = self._executor.submit(work)
        except BaseException:
            self._free.release()
            raise
        future.add_done_callback(lambda _: self._free.release())  # also when cancelled before it ran
        waiting = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait({waiting}, timeout=self.timeout_s)
        finally:
            if not waiting.done():
                waiting.cancel()  # the thread runs on; its late result or error is dropped
        if not done:
            error_id = new_error_id()
            log.warning("[error %s] a %s took longer than %g s; answered 504", error_id, self.one, self.timeout_s)
            raise ApiError(
                GATEWAY_TIMEOUT,
                f"the {self.one} took longer than {self.timeout_s:g} s; retry later (error id {error_id})",
                error_id=error_id,
            )
        return waiting.result()


def env_number(name: str, default: float, minimum: float, kind: type = float) -> Any:
    """A setting from the environment; a bad value stops the plugin with a message naming it."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}={raw!r}: it must be a number >= {minimum:g}")
    return value


def prediction_slots(max_concurrent: int | None = None, timeout_s: float | None = None) -> PredictionSlots:
    """The slots, sized by the arguments or else ``JOBCLASS_API_MAX_CONCURRENT`` / ``JOBCLASS_API_PREDICT_TIMEOUT_S``."""
    return PredictionSlots(
        max_concurrent or env_number("JOBCLASS_API_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT, 1, int),
        timeout_s or env_number("JOBCLASS_API_PREDICT_TIMEOUT_S", DEFAULT_PREDICT_TIMEOUT_S, 0.001),
    )


def report_slots(max_concurrent: int | None = None, timeout_s: float | None = None) -> PredictionSlots:
    """The run reports' slots, sized by the arguments or else ``JOBCLASS_API_MAX_CONCURRENT_REPORTS`` /
    ``JOBCLASS_API_REPORT_TIMEOUT_S``."""
    return PredictionSlots(
        max_concurrent or env_number("JOBCLASS_API_MAX_CONCURRENT_REPORTS", DEFAULT_MAX_CONCURRENT_REPORTS, 1, int),
        timeout_s or env_number("JOBCLASS_API_REPORT_TIMEOUT_S", DEFAULT_REPORT_TIMEOUT_S, 0.001),
        what=("run report", "run reports"),
    )
