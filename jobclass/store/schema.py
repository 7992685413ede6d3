"""The schema: ``schema.sql`` beside this module (package data; ``sql/schema.sql`` links to it), applied idempotently."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobclass.store.engine import SCHEMA_LOCK_KEY, make_engine, masked_url, wait_for_database

log = logging.getLogger(__name__)

SCHEMA_FILE = "schema.sql"


def schema_path() -> Path:
    """``jobclass/store/schema.sql``: beside this module in a checkout and in an installed package."""
    path = Path(str(resources.files(__package__).joinpath(SCHEMA_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"{SCHEMA_FILE} not found at {path}: the jobclass package is incomplete.")
    return path


def schema_text() -> str:
    """The DDL script (read through importlib.resources, so a zipped install works too)."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def schema_statements(text: str) -> list[str]:
    """The statements of a DDL script: ``--`` comments dropped, split on ``;``."""
    without_comments = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return [stmt.strip() for stmt in without_comments.split(";") if stmt.strip()]


_ADD_COLUMN = re.compile(r"^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s", re.IGNORECASE)


def _column_exists(conn: sa.Connection, table: str, column: str) -> bool:
    return any(c["name"] == column for c in sa.inspect(conn).get_columns(table))


def init_schema(engine: Engine) -> None:
    """Create every table and index that does not exist yet (idempotent, one transaction).

    ``ALTER TABLE t ADD COLUMN c ...`` statements upgrade databases created before the column
    existed; they run only when ``c`` is missing (SQLite has no ``ADD COLUMN IF NOT EXISTS``).
    """
    statements = schema_statements(schema_text())
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # parallel tasks may init at once: take turns
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        for statement in statements:
            added = _ADD_COLUMN.match(statement)
            if added and _column_exists(conn, *added.groups()):
                continue
            if added:
                log.warning("upgrading the schema of %s: %s", masked_url(engine), " ".join(statement.split()))
            conn.execute(sa.text(statement))
    log.info("schema ready in %s (%d statements)", masked_url(engine), len(statements))


def open_database(url: str | None = None) -> Engine:
    """An engine whose database answers (retried) and has the schema: what commands start with."""
    engine = make_engine(url)
    wait_for_database(engine)
    init_schema(engine)
    return engine
