"""Engines for SQLite and PostgreSQL, URLs (masked in logs), retries, and UTC timestamps as text.

SQLAlchemy Core only. URLs are logged with the password masked, never in clear. The schema is
:mod:`jobclass.store.schema`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tenacity import (
    RetryError,
    Retrying,
    retry,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from jobclass.paths import default_database_url

log = logging.getLogger(__name__)

TimeLike = datetime | date | str
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SCHEMA_LOCK_KEY = 4_242_001  # PostgreSQL advisory lock id held while the schema is created
WRITE_LOCK_KEY = 4_242_002  # PostgreSQL advisory lock id held by each predictions/rejects write
INGEST_LOCK_KEY = 4_242_003  # PostgreSQL advisory lock id: shared by each postings batch, exclusive when planning

# Retries of one database step of a run (read a chunk, write a chunk, record the run) when the
# connection drops or the database is briefly unreachable or locked: exponential backoff
# DB_RETRY_MULTIPLIER * 2**n seconds, at most DB_RETRY_MAX_WAIT_S, DB_RETRY_ATTEMPTS tries in all.
DB_RETRY_ATTEMPTS = 4
DB_RETRY_MULTIPLIER = 0.5
DB_RETRY_MAX_WAIT_S = 8.0


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached after retrying."""


# -- timestamps -------------------------------------------------------------------------------
def to_utc(value: datetime | date | str) -> datetime:
    """An aware UTC datetime from a datetime, a date (midnight) or an ISO-8601 string.

    Naive values are taken to be UTC already.
    """
    if isinstance(value, str):
        text = value.strip()
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if not isinstance(value, datetime):  # a plain date
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_ts(value: datetime | date | str) -> str:
    """The one stored timestamp format: fixed width, UTC, so text order is time order."""
    return to_utc(value).strftime(TIMESTAMP_FORMAT)


def utc_now() -> datetime:
    return datetime.now(UTC)


def database_now(conn: sa.Connection) -> datetime:
    """The database server's current time (PostgreSQL), or this machine's (SQLite: a local file).

    Ingest stamps and the planner's cutoff check use this one clock, so loaders and workers on
    other machines cannot disagree about which side of a cutoff a batch falls.
    """
    if conn.dialect.name == "postgresql":
        return to_utc(conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one())
    return utc_now()


# -- engines ----------------------------------------------------------------------------------
def normalize_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` to the psycopg 3 driver SQLAlchemy needs."""
    return re.sub(r"^postgres(?:ql)?://", "postgresql+psycopg://", url.strip())


def masked_url(engine_or_url: Engine | sa.URL | str) -> str:
    """A URL that is safe to log or print: the password is replaced by ``***``."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else sa.make_url(engine_or_url)
    return url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (default: ``JOBCLASS_DATABASE_URL`` or the SQLite file in the data home).

    SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL gets psycopg 3, pre-ping and a
    connect timeout.
    """
    url = normalize_url(url or default_database_url())
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # connecting fails next, with what to check (wait_for_database)
                log.warning("cannot create the directory of %s: %s", masked_url(parsed), exc)
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, echo=echo, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    else:
        raise ValueError(f"unsupported database {masked_url(parsed)}: use a sqlite:/// or postgresql:// URL.")
    log.debug("database engine for %s", masked_url(engine))
    return engine


def wait_for_database(engine: Engine, attempts: int = 5, max_wait_s: float = 10.0) -> None:
    """Open one connection, retrying with exponential backoff; raise a message that says what to check."""

    @retry(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=max_wait_s),
        retry=retry_if_exception_type(sa.exc.OperationalError),
        before_sleep=lambda state: log.warning(
            "database %s not reachable (attempt %d of %d), retrying", masked_url(engine), state.attempt_number, attempts
        ),
    )
    def _ping() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        _ping()
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        reason = _reason(cause)
        hint = (
            "Check that the database file's directory exists and is writable, and that no other process "
            "holds a lock on it."
            if engine.dialect.name == "sqlite"
            else "Check that the server is running and reachable from here, and that the host, port, database "
            "name, user and password in the URL (--database-url or JOBCLASS_DATABASE_URL) are right."
        )
        raise DatabaseUnavailable(
            f"cannot connect to {masked_url(engine)} after {attempts} attempts: {reason}. {hint}"
        ) from cause


def is_transient(exc: BaseException) -> bool:
    """A database error worth retrying: the connection dropped, the server is unreachable or
    restarting, or SQLite is locked. Constraint or syntax errors are not."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError)


def with_db_retry(engine: Engine, what: str, fn, /, *args, **kwargs):
    """``fn(*args, **kwargs)``, retried with exponential backoff on transient database errors.

    For steps that are safe to repeat (reads, and writes that replace in one transaction). When
    the retries run out, :class:`DatabaseUnavailable` says what failed and what to check; its
    cause is the last error. The URL in messages has its password masked.
    """
    attempts = DB_RETRY_ATTEMPTS
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=DB_RETRY_MULTIPLIER, max=DB_RETRY_MAX_WAIT_S),
        retry=retry_if_exception(is_transient),
        before_sleep=lambda state: log.warning(
            "%s: database %s failed (attempt %d of %d: %s), retrying in %.1fs",
            what,
            masked_url(engine),
            state.attempt_number,
            attempts,
            _reason(state.outcome.exception()),
            state.next_action.sleep if state.next_action else 0.0,
        ),
        reraise=True,
    )
    try:
        return retrying(fn, *args, **kwargs)
    except sa.exc.SQLAlchemyError as exc:
        if not is_transient(exc):
            raise
        raise DatabaseUnavailable(
            f"{what}: database {masked_url(engine)} failed {attempts} times: {_reason(exc)}. "
            "Check that the database is up and reachable, then re-run: finished chunks are skipped, "
            "the rest are redone."
        ) from exc


def _reason(exc: BaseException | None) -> str:
    """The first line of the driver's message (SQLAlchemy's adds the statement and parameters)."""
    if exc is None:
        return "unknown error"
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_SQLALCHEMY_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
}


def url_from_connection(conn: Any) -> str:
    """Turn an Airflow Connection (any object with its fields) into a SQLAlchemy 2 URL string.

    Supported: ``postgres`` (psycopg 3 driver; ``extra`` keys such as ``sslmode`` become query
    parameters) and ``sqlite`` (the file path in ``host``, or in ``schema``). An explicit
    ``extra["sqlalchemy_url"]`` wins over the fields.
    """
    extra = dict(getattr(conn, "extra_dejson", None) or {})
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = (conn.conn_type or "").lower().replace("_", "-")
    driver = _SQLALCHEMY_DRIVERS.get(conn_type)
    if driver is None:
        raise ValueError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}; jobclass supports postgres and sqlite "
            "(or set extra.sqlalchemy_url)."
        )
    if driver == "sqlite":
        path = conn.host or conn.schema or ""
        if not path:
            raise ValueError(f"Connection {conn.conn_id!r} (sqlite) needs the database file path in host.")
        return f"sqlite:///{path}"
    query = {
        k: str(v)
        for k, v in extra.items()
        if k in {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options"}
    }
    url = sa.engine.URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=int(conn.port) if conn.port else None,
        database=conn.schema or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def query_rows(engine: Engine, sql: str, limit: int) -> tuple[list[str], list[tuple]]:
    """Run one SQL statement (an analyst's query file) and return its column names and first ``limit`` rows."""
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql))
        return list(result.keys()), [tuple(row) for row in result.fetchmany(limit)]
