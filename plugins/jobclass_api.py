"""The jobclass HTTP API, mounted in the Airflow API server at ``/jobclass`` by a plugin.

Endpoints (all require an authenticated Airflow user, see *Authentication* below):

* ``POST /jobclass/predict``  ``{"title": ..., "body": ..., "top_k": 5}`` -> ranked O*NET codes
  from the current champion model;
* ``GET  /jobclass/models``   the model registry with metrics;
* ``GET  /jobclass/runs``     recent nightly prediction runs (``?limit=``, 1..500);
* ``GET  /jobclass/health``   liveness (also authenticated).

Authentication. Airflow 3 mounts a plugin's FastAPI app as a sub-application of the API server
(``app.mount(url_prefix, subapp)`` in ``airflow.api_fastapi.app.init_plugins``). Its routes get
none of the core API's security dependencies: a plugin app is open to anonymous callers unless it
adds its own. This app adds, to every route, Airflow's own ``get_user`` dependency
(``airflow.api_fastapi.core_api.security``), which validates the Airflow JWT from the
``Authorization: Bearer`` header or the UI's ``_token`` cookie with the configured auth manager
(401 without a token, 403 for an invalid one), then asks the auth manager
``is_authorized_custom_view(resource_name="jobclass")`` (403 if refused). With the simple auth
manager a user needs at least the Viewer role. When ``[core] simple_auth_manager_all_admins`` is
on, Airflow itself treats every caller as admin, so this API is open exactly like the UI is.

Input is validated with pydantic: title <= 500 characters, body <= 100,000 UTF-8 bytes,
top_k 1..20, no unknown fields. A request body over 512 KiB is refused with 413 before it is read
into memory or parsed. Bad input always gives a 4xx with a message, never a 500. Without a
champion model the API answers 503 and says how to get one.

The champion bundle is loaded lazily on the first prediction and cached; each request checks the
registry (one small query) and reloads when the champion's version changes.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger("jobclass.api")

CONN_ID = "jobclass_db"
RESOURCE_NAME = "jobclass"
MAX_TITLE_CHARS = 500
MAX_BODY_BYTES = 100_000
MAX_REQUEST_BYTES = 512 * 1024
MAX_TOP_K = 20

NO_CHAMPION_MESSAGE = (
    "No champion model is registered yet. Run the `jobclass_nightly_classify` DAG once (it bootstraps "
    "the default model) or trigger `jobclass_weekly_retrain`, or run `jobclass train --promote`."
)


# --------------------------------------------------------------------------- request / response models


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field("", max_length=MAX_TITLE_CHARS, description="Posting title (at most 500 characters).")
    body: str = Field("", description="Posting text (at most 100,000 UTF-8 bytes).")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Number of ranked codes to return (1..20).")

    @field_validator("body")
    @classmethod
    def _body_size(cls, value: str) -> str:
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > MAX_BODY_BYTES:
            raise ValueError(f"body is {size:,} bytes; the limit is {MAX_BODY_BYTES:,} bytes")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PredictRequest:
        if not self.title.strip() and not self.body.strip():
            raise ValueError("title and body are both empty; give at least one")
        return self


class PredictionOut(BaseModel):
    rank: int
    code: str
    title: str
    score: float
    soc6_code: str | None = None
    major_group: str | None = None
    needs_review: bool | None = None
    evidence: str | None = None


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[PredictionOut]


# --------------------------------------------------------------------------- request size limit


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


# --------------------------------------------------------------------------- authentication


_bearer_scheme = HTTPBearer(auto_error=False, description="An Airflow API token (POST /auth/token).")


async def require_airflow_user(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer_scheme),
) -> Any:
    """Authenticate with Airflow's own ``get_user`` and authorize with the configured auth manager.

    Airflow is imported here, at request time, so loading the plugin stays light in every
    Airflow process (the scheduler and workers load plugins too).
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request, None, bearer)  # 401 without a token, 403 for an invalid one
    method = "GET" if request.method in ("GET", "HEAD", "OPTIONS") else "POST"
    if not get_auth_manager().is_authorized_custom_view(method=method, resource_name=RESOURCE_NAME, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: this user may not use the jobclass API")
    return user


# --------------------------------------------------------------------------- database and champion


def airflow_database_url() -> str:
    """The ``jobclass_db`` Connection as a SQLAlchemy URL, else the embedded SQLite default."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(CONN_ID)
    except AirflowNotFoundException:
        from jobclass.paths import default_database_url

        log.info("No %r Connection: using the embedded default database", CONN_ID)
        return default_database_url()
    return connection_to_sqlalchemy_url(conn)


def connection_to_sqlalchemy_url(conn: Any) -> str:
    """The ``jobclass_db`` Connection as a SQLAlchemy URL (see ``jobclass.db.url_from_connection``)."""
    from jobclass.db import url_from_connection

    return url_from_connection(conn)


def _default_engine_factory():
    from jobclass.db import init_schema, make_engine

    engine = make_engine(airflow_database_url())
    init_schema(engine)  # idempotent: a fresh database answers with empty lists, not errors
    return engine


def _default_bundle_loader(path: str):
    from jobclass.bundle import load_bundle

    return load_bundle(path)


def _record(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    if hasattr(obj, "_asdict"):
        return dict(obj._asdict())
    if hasattr(obj, "_mapping"):
        return dict(obj._mapping)
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return dict(vars(obj))


class ChampionCache:
    """The champion classifier, loaded once and reloaded only when the champion's version changes."""

    def __init__(self, loader: Callable[[str], Any]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._version: str | None = None
        self._classifier: Any = None
        self.loads = 0

    def get(self, version: str, path: str) -> Any:
        if self._version == version and self._classifier is not None:
            return self._classifier
        with self._lock:
            if self._version != version or self._classifier is None:
                log.info("Loading champion model %s from %s", version, path)
                classifier = self._loader(path)
                self._classifier, self._version = classifier, version
                self.loads += 1
        return self._classifier


def _jsonable(value: Any) -> Any:
    import datetime as _dt
    import json as _json

    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                return _json.loads(stripped)
            except ValueError:
                return value
        return value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


# --------------------------------------------------------------------------- validation errors

MAX_REPORTED_ERRORS = 20
MAX_ECHOED_CHARS = 100


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


# --------------------------------------------------------------------------- the app


def create_app(
    *,
    engine_factory: Callable[[], Any] | None = None,
    bundle_loader: Callable[[str], Any] | None = None,
    auth: Callable | None | str = "airflow",
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> FastAPI:
    """Build the API. Tests inject ``engine_factory``, ``bundle_loader`` and ``auth``.

    ``auth="airflow"`` (the default) uses Airflow's JWT and auth manager; a callable is used as a
    FastAPI dependency instead; ``None`` disables authentication (only for tests).
    """
    engine_factory = engine_factory or _default_engine_factory
    cache = ChampionCache(bundle_loader or _default_bundle_loader)
    engine_lock = threading.Lock()
    state: dict[str, Any] = {}

    dependencies = []
    if auth == "airflow":
        dependencies.append(Depends(require_airflow_user))
    elif callable(auth):
        dependencies.append(Depends(auth))

    app = FastAPI(
        title="jobclass",
        description=__doc__.split("\n\n")[0],
        version="1",
        dependencies=dependencies,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_request_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.state.champion_cache = cache

    def get_engine():
        if "engine" not in state:
            with engine_lock:
                if "engine" not in state:
                    try:
                        state["engine"] = engine_factory()
                    except Exception as exc:  # noqa: BLE001
                        log.exception("jobclass database unavailable")
                        raise HTTPException(
                            status.HTTP_503_SERVICE_UNAVAILABLE, f"jobclass database unavailable: {type(exc).__name__}"
                        ) from exc
        return state["engine"]

    def current_champion(engine) -> dict[str, Any]:
        from jobclass.registry import get_champion

        try:
            champion = _record(get_champion(engine))
        except Exception as exc:  # noqa: BLE001 - missing schema, database down
            log.exception("could not read the model registry")
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"model registry unavailable: {type(exc).__name__}"
            ) from exc
        if not champion:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_CHAMPION_MESSAGE)
        return champion

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        engine = get_engine()
        champion = current_champion(engine)
        version, path = str(champion["version"]), str(champion["path"])
        try:
            classifier = cache.get(version, path)
        except Exception as exc:  # noqa: BLE001 - BundleError and friends
            log.exception("champion %s could not be loaded", version)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"champion model {version} could not be loaded ({type(exc).__name__}: {exc}); "
                "promote a good version or retrain.",
            ) from exc
        ranked = classifier.predict(request.title, request.body, top_k=request.top_k)
        out = []
        for pred in ranked:
            item = pred.as_dict() if hasattr(pred, "as_dict") else _record(pred)
            out.append(PredictionOut(**{k: _jsonable(v) for k, v in item.items() if k in PredictionOut.model_fields}))
        return PredictResponse(model_version=version, predictions=out)

    @app.get("/models")
    def models() -> dict[str, Any]:
        from jobclass.registry import list_models

        engine = get_engine()
        try:
            rows = [_record(r) for r in list_models(engine)]
        except Exception as exc:  # noqa: BLE001
            log.exception("could not list models")
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"model registry unavailable: {type(exc).__name__}"
            ) from exc
        return {"models": [_jsonable(r) for r in rows]}

    @app.get("/runs")
    def runs(
        limit: int = Query(50, ge=1, le=500, description="Most recent runs to return (1..500)."),
    ) -> dict[str, Any]:
        engine = get_engine()
        try:
            rows = _recent_runs(engine, limit)
        except Exception as exc:  # noqa: BLE001
            log.exception("could not list prediction runs")
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"prediction runs unavailable: {type(exc).__name__}"
            ) from exc
        return {"runs": [_jsonable(r) for r in rows]}

    return app


def _recent_runs(engine: Any, limit: int) -> list[dict[str, Any]]:
    """The newest ``prediction_runs`` rows (through the storage layer's helper when it has one)."""
    try:
        from jobclass.classify import list_runs  # type: ignore[attr-defined]
    except ImportError:
        list_runs = None
    if list_runs is not None:
        return [_record(r) for r in list_runs(engine, limit=limit)]
    import sqlalchemy as sa

    runs_table = sa.Table("prediction_runs", sa.MetaData(), autoload_with=engine)
    order = [c for c in ("started_at", "created_at", "interval_end") if c in runs_table.c]
    stmt = sa.select(runs_table).limit(limit)
    if order:
        stmt = stmt.order_by(runs_table.c[order[0]].desc())
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


class JobclassApiPlugin(AirflowPlugin):
    """Registers the jobclass API with the Airflow API server."""

    name = "jobclass_api"
    fastapi_apps = [
        {
            "app": create_app(),
            "url_prefix": os.environ.get("JOBCLASS_API_PREFIX", "/jobclass"),
            "name": "jobclass API",
        }
    ]
