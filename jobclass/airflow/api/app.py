"""The jobclass API app: :func:`create_app`, its lifespan (the champion warmed at start) and its
exception handlers (bad input is a 4xx with a message, never a 500; a failure is a generic message
and an error id, the details only logged)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from jobclass.airflow.api.champion import ChampionWarmer, load_bundle, read_champion
from jobclass.airflow.api.errors import ApiError, new_error_id
from jobclass.airflow.api.limits import MAX_REQUEST_BYTES, BodySizeLimitMiddleware, prediction_slots, report_slots
from jobclass.airflow.api.review import router as review_router
from jobclass.airflow.api.routes import router
from jobclass.airflow.api.run_report import router as run_report_router
from jobclass.airflow.api.state import ApiState

log = logging.getLogger("jobclass.api")

MAX_REPORTED_ERRORS = 20
MAX_ECHOED_CHARS = 100


def create_app(
    *,
    engine_factory: Callable[[], Any] | None = None,
    bundle_loader: Callable[[str], Any] | None = None,
    auth: Callable | None | str = "airflow",
    max_request_bytes: int = MAX_REQUEST_BYTES,
    max_concurrent: int | None = None,
    predict_timeout_s: float | None = None,
    max_concurrent_reports: int | None = None,
    report_timeout_s: float | None = None,
) -> FastAPI:
    """Build the API. Tests inject ``engine_factory``, ``bundle_loader`` and ``auth``.

    ``engine_factory`` defaults to :func:`jobclass.airflow.connection.engine` (the ``jobclass_db``
    Connection). ``auth="airflow"`` (the default) uses Airflow's JWT and auth manager; a callable is
    used as a FastAPI dependency instead; ``None`` disables authentication (only for tests).
    ``max_concurrent`` and ``predict_timeout_s`` default to ``JOBCLASS_API_MAX_CONCURRENT`` and
    ``JOBCLASS_API_PREDICT_TIMEOUT_S``; ``max_concurrent_reports`` and ``report_timeout_s`` to
    ``JOBCLASS_API_MAX_CONCURRENT_REPORTS`` and ``JOBCLASS_API_REPORT_TIMEOUT_S``.
    """
    if engine_factory is None:
        from jobclass.airflow.connection import engine as engine_factory
    state = ApiState(
        engine_factory=engine_factory,
        warmer=ChampionWarmer(bundle_loader or load_bundle),
        slots=prediction_slots(max_concurrent, predict_timeout_s),
        report_slots=report_slots(max_concurrent_reports, report_timeout_s),
    )

    dependencies = []
    if auth == "airflow":
        from jobclass.airflow.api.auth import require_airflow_user

        dependencies.append(Depends(require_airflow_user))
    elif callable(auth):
        dependencies.append(Depends(auth))

    def warm_at_start() -> None:
        """Runs in a thread when the API server starts, so the first prediction finds the model warm."""
        try:
            champion = read_champion(state.engine())
        except ApiError as exc:  # no database or no champion yet: a prediction will start the warm-up
            log.info("No champion model warmed at start: %s", exc.detail)
            return
        state.warmer.start(champion.version, champion.path)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Airflow's API server enters a mounted FastAPI app's lifespan; the scheduler and workers,
        # which load plugins too, never do, so only the API server loads the model.
        threading.Thread(target=warm_at_start, name="jobclass-warm-start", daemon=True).start()
        yield

    app = FastAPI(
        title="jobclass",
        description="Codes job postings to O*NET-SOC occupations with the champion model; the registry and runs.",
        version="1",
        dependencies=dependencies,
        lifespan=lifespan,
        # No Swagger UI or ReDoc: FastAPI serves their assets from a CDN, which an air-gapped server
        # cannot reach, and it mounts them outside the app's authentication. The schema is below.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_schema() -> dict[str, Any]:
        """The OpenAPI schema, behind the same login as every other route."""
        return app.openapi()

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_request_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _internal_error)
    app.state.jobclass = state
    app.state.warmer = state.warmer
    app.state.prediction_slots = state.slots
    app.include_router(router)
    app.include_router(review_router)  # the review queue page (jobclass.airflow.api.review)
    app.include_router(run_report_router)  # the nightly run report page (jobclass.airflow.api.run_report)
    return app


# --------------------------------------------------------------------------- exception handlers


def _clean_error(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error, safe to serialise: the input is echoed only when small and finite."""
    out: dict[str, Any] = {
        "type": str(error.get("type", "")),
        "loc": [str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
    }
    value = error.get("input")
    if isinstance(value, bool | int) and abs(value) < 10**18 or isinstance(value, float) and math.isfinite(value):
        out["input"] = value
    elif isinstance(value, str) and len(value) <= MAX_ECHOED_CHARS:
        out["input"] = value
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with the errors, never a 500: FastAPI's default echoes every input back, and a NaN or
    an infinite number in the request then makes the error response itself unserialisable."""
    errors = list(exc.errors()) if isinstance(exc, RequestValidationError) else []
    detail = [_clean_error(e) for e in errors[:MAX_REPORTED_ERRORS]]
    if len(errors) > MAX_REPORTED_ERRORS:
        detail.append({"type": "too_many_errors", "loc": [], "msg": f"{len(errors) - MAX_REPORTED_ERRORS} more errors"})
    return JSONResponse({"detail": detail}, status_code=422)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    body: dict[str, Any] = {"detail": exc.detail}
    if exc.error_id:
        body["error_id"] = exc.error_id
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Any unexpected failure: 500 with an error id; the traceback goes to the log only."""
    error_id = new_error_id()
    log.error("[error %s] %s %s failed", error_id, request.method, request.url.path, exc_info=exc)
    detail = f"internal error in the jobclass API (error id {error_id})"
    return JSONResponse({"detail": detail, "error_id": error_id}, status_code=500)
