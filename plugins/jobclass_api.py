"""The jobclass HTTP API, mounted in the Airflow API server at ``/jobclass`` by a plugin.

Endpoints (all require an authenticated Airflow user, see *Authentication* below):

* ``POST /jobclass/predict``  ``{"title": ..., "body": ..., "top_k": 5}`` -> ranked O*NET codes
  from the current champion model;
* ``GET  /jobclass/models``   the model registry with metrics, newest first (``?limit=&offset=``);
* ``GET  /jobclass/runs``     nightly prediction runs, newest first (``?limit=&offset=``);
* ``GET  /jobclass/health``   liveness (also authenticated).

``limit`` is 1..200 (default 50) and ``offset`` 0..1,000,000 (default 0).

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

No server internals in responses. Viewers may call this API, so a failure is logged here, with
its traceback and a short error id, and the response carries only a generic message and that id
(``{"detail": ..., "error_id": ...}``): never an exception's text, a bundle path or the database
host or user. ``/models`` leaves out the bundle path, and the free text the DAGs store (a
decision's reason, a failed run's detail) is shown with paths, URLs, exception text and the
database host and user replaced by placeholders.

Bounded inference. Predictions run inside the API server, so they are bounded: at most
``JOBCLASS_API_MAX_CONCURRENT`` (default 2) at once, further ones answered 503 with
``Retry-After``; each awaited at most ``JOBCLASS_API_PREDICT_TIMEOUT_S`` seconds (default 30),
then 504. Loading a bundle (which may export the encoder to ONNX) never happens in a request: the
champion is warmed in a background thread when the API server starts and again whenever the
champion changes; until it is ready ``/predict`` answers 503 ``model warming, retry in N s`` with
``Retry-After: N``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("jobclass.api")

CONN_ID = "jobclass_db"
RESOURCE_NAME = "jobclass"
MAX_TITLE_CHARS = 500
MAX_BODY_BYTES = 100_000
MAX_REQUEST_BYTES = 512 * 1024
MAX_TOP_K = 20
DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_OFFSET = 1_000_000
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_PREDICT_TIMEOUT_S = 30.0
FIRST_WARM_ESTIMATE_S = 10.0  # Retry-After while the first load runs; later loads use the last load's time
RETRY_FAILED_LOAD_S = 30.0  # a bundle that failed to load is tried again after this long
BUSY_RETRY_AFTER_S = 1

NO_CHAMPION_MESSAGE = (
    "No champion model is registered yet. Run the `jobclass_nightly_classify` DAG once (it bootstraps "
    "the default model) or trigger `jobclass_weekly_retrain`, or run `jobclass train --promote`."
)

MODEL_FIELDS = ("version", "status", "metrics", "benchmark_hash", "created_at", "promoted_at", "reason")
RUN_FIELDS = (
    "run_id",
    "interval_start",
    "interval_end",
    "model_version",
    "partition_date",
    "chunks",
    "rows_read",
    "rows_predicted",
    "rows_rejected",
    "status",
    "detail",
    "started_at",
    "finished_at",
    "duration_s",
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
    """The ``jobclass_db`` Connection as a SQLAlchemy URL (see ``jobclass.store.db.url_from_connection``)."""
    from jobclass.store.db import url_from_connection

    return url_from_connection(conn)


def _default_engine_factory():
    from jobclass.store.db import init_schema, make_engine

    engine = make_engine(airflow_database_url())
    init_schema(engine)  # idempotent: a fresh database answers with empty lists, not errors
    return engine


def _default_bundle_loader(path: str):
    from jobclass.model.bundle import load_bundle

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


# --------------------------------------------------------------------------- errors without internals


class ApiError(Exception):
    """An answer with a generic message: the details, if any, were logged under ``error_id``."""

    def __init__(
        self, status_code: int, detail: str, *, error_id: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.error_id = error_id
        self.retry_after = retry_after


def new_error_id() -> str:
    """A short id that ties a response to its log lines (the only detail a viewer gets)."""
    return uuid.uuid4().hex[:12]


def unavailable(message: str, what: str) -> ApiError:
    """503: log the current exception (``what``) with a new error id; answer only ``message`` and the id."""
    error_id = new_error_id()
    log.exception("[error %s] %s", error_id, what)
    return ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, f"{message} (error id {error_id})", error_id=error_id)


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


_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b(?::[^);\n]*)?")  # to the next ), ; or line end
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w.~/\\-])(?:~|[A-Za-z]:)?[/\\](?=[\w.])[^\s'\"<>(),;\[\]]*")


def text_scrubber(engine: Any) -> Callable[[str], str]:
    """Stored free text made safe to show: paths, URLs, exception text and the database's host
    and user become placeholders. The DAGs write decision reasons and failure details that may
    quote an exception; the detail itself stays in the task logs."""
    url = engine.url
    names = sorted({n for n in (url.host, url.username, url.password) if n and len(n) >= 3}, key=len, reverse=True)
    server = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])") if names else None

    def scrub(text: str) -> str:
        text = _TRACEBACK.sub("<traceback withheld>", text)
        text = _EXCEPTION.sub("<error withheld>", text)
        text = _URL.sub("<url>", text)
        text = _PATH.sub("<path>", text)
        return server.sub("<server>", text) if server else text

    return scrub


def public_record(row: dict[str, Any], fields: tuple[str, ...], scrub: Callable[[str], str]) -> dict[str, Any]:
    """Only the listed fields, JSON-ready, every string in them scrubbed."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {k: clean(_jsonable(row[k])) for k in fields if k in row}


# --------------------------------------------------------------------------- bounded inference


class ChampionWarmer:
    """The champion classifier, loaded in a background thread and never inside a request.

    Loading a bundle may export its encoder to ONNX, seconds to minutes of CPU: far too long for
    a request. :meth:`get` returns the classifier when it is warm; otherwise it starts the load
    (one at a time) and answers 503 with an estimate of when to retry. A failed load is logged
    with an error id, answered with that id, and tried again after ``retry_failed_s``.
    """

    def __init__(
        self,
        loader: Callable[[str], Any],
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

    def get(self, version: str, path: str) -> Any:
        with self._lock:
            if self._version == version:
                return self._classifier
            failure = self._failure
            if failure and failure[0] == version and time.monotonic() - failure[2] < self._retry_failed_s:
                raise ApiError(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    f"champion model {version} could not be loaded; promote a good version or retrain "
                    f"(error id {failure[1]})",
                    error_id=failure[1],
                )
            self._start_locked(version, path)
            assert self._loading is not None
            retry = max(1, math.ceil(self._estimate_s - (time.monotonic() - self._loading[1])))
        raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, f"model warming, retry in {retry} s", retry_after=retry)

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


class PredictionSlots:
    """At most ``size`` predictions at once, each awaited at most ``timeout_s`` seconds.

    A prediction that times out cannot be stopped (it is CPU work in a thread): it keeps its slot
    until it really ends, so the cap bounds the work actually running, not only the requests.
    """

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self._free = threading.BoundedSemaphore(size)
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="jobclass-predict")

    async def run(self, work: Callable[[], Any]) -> Any:
        if not self._free.acquire(blocking=False):
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"busy: {self.size} predictions are running; retry in {BUSY_RETRY_AFTER_S} s",
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
            log.warning("[error %s] a prediction took longer than %g s; answered 504", error_id, self.timeout_s)
            raise ApiError(
                status.HTTP_504_GATEWAY_TIMEOUT,
                f"the prediction took longer than {self.timeout_s:g} s; retry later (error id {error_id})",
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


# --------------------------------------------------------------------------- the app


def create_app(
    *,
    engine_factory: Callable[[], Any] | None = None,
    bundle_loader: Callable[[str], Any] | None = None,
    auth: Callable | None | str = "airflow",
    max_request_bytes: int = MAX_REQUEST_BYTES,
    max_concurrent: int | None = None,
    predict_timeout_s: float | None = None,
) -> FastAPI:
    """Build the API. Tests inject ``engine_factory``, ``bundle_loader`` and ``auth``.

    ``auth="airflow"`` (the default) uses Airflow's JWT and auth manager; a callable is used as a
    FastAPI dependency instead; ``None`` disables authentication (only for tests).
    ``max_concurrent`` and ``predict_timeout_s`` default to ``JOBCLASS_API_MAX_CONCURRENT`` and
    ``JOBCLASS_API_PREDICT_TIMEOUT_S``.
    """
    engine_factory = engine_factory or _default_engine_factory
    warmer = ChampionWarmer(bundle_loader or _default_bundle_loader)
    slots = PredictionSlots(
        max_concurrent or env_number("JOBCLASS_API_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT, 1, int),
        predict_timeout_s or env_number("JOBCLASS_API_PREDICT_TIMEOUT_S", DEFAULT_PREDICT_TIMEOUT_S, 0.001),
    )
    engine_lock = threading.Lock()
    state: dict[str, Any] = {}

    dependencies = []
    if auth == "airflow":
        dependencies.append(Depends(require_airflow_user))
    elif callable(auth):
        dependencies.append(Depends(auth))

    def get_engine():
        if "engine" not in state:
            with engine_lock:
                if "engine" not in state:
                    try:
                        state["engine"] = engine_factory()
                    except Exception as exc:
                        raise unavailable("jobclass database unavailable", "jobclass database unavailable") from exc
        return state["engine"]

    def current_champion(engine) -> dict[str, Any]:
        from jobclass.store.registry import get_champion

        try:
            champion = _record(get_champion(engine))
        except Exception as exc:  # missing schema, database down
            raise unavailable("model registry unavailable", "could not read the model registry") from exc
        if not champion:
            raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, NO_CHAMPION_MESSAGE)
        return champion

    def warm_at_start() -> None:
        """Runs in a thread when the API server starts, so the first prediction finds the model warm."""
        try:
            champion = current_champion(get_engine())
        except ApiError as exc:  # no database or no champion yet: a prediction will start the warm-up
            log.info("No champion model warmed at start: %s", exc.detail)
            return
        warmer.start(str(champion["version"]), str(champion["path"]))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Airflow's API server enters a mounted FastAPI app's lifespan; the scheduler and workers,
        # which load plugins too, never do, so only the API server loads the model.
        threading.Thread(target=warm_at_start, name="jobclass-warm-start", daemon=True).start()
        yield

    app = FastAPI(
        title="jobclass",
        description=__doc__.split("\n\n")[0],
        version="1",
        dependencies=dependencies,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_request_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _internal_error)
    app.state.warmer = warmer
    app.state.prediction_slots = slots

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: PredictRequest) -> PredictResponse:
        champion = await run_in_threadpool(lambda: current_champion(get_engine()))
        version = str(champion["version"])
        classifier = warmer.get(version, str(champion["path"]))  # 503 "model warming" until it is loaded
        ranked = await slots.run(lambda: classifier.predict(request.title, request.body, top_k=request.top_k))
        out = []
        for pred in ranked:
            item = pred.as_dict() if hasattr(pred, "as_dict") else _record(pred)
            out.append(PredictionOut(**{k: _jsonable(v) for k, v in item.items() if k in PredictionOut.model_fields}))
        return PredictResponse(model_version=version, predictions=out)

    @app.get("/models")
    def models(
        limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Models to return (1..200)."),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Newest models to skip."),
    ) -> dict[str, Any]:
        from jobclass.store.registry import list_models

        engine = get_engine()
        try:
            rows = [_record(r) for r in list_models(engine)]
        except Exception as exc:
            raise unavailable("model registry unavailable", "could not list models") from exc
        scrub = text_scrubber(engine)
        page = rows[::-1][offset : offset + limit]  # the registry is small: one row per trained model
        return {"models": [public_record(r, MODEL_FIELDS, scrub) for r in page]}

    @app.get("/runs")
    def runs(
        limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Runs to return (1..200)."),
        offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Newest runs to skip."),
    ) -> dict[str, Any]:
        from jobclass.pipeline.interval import list_runs

        engine = get_engine()
        try:
            rows = list_runs(engine, limit=limit, offset=offset)
        except Exception as exc:
            raise unavailable("prediction runs unavailable", "could not list prediction runs") from exc
        scrub = text_scrubber(engine)
        return {"runs": [public_record(r, RUN_FIELDS, scrub) for r in rows]}

    return app


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
