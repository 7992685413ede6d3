"""TEMP re-layout alias: ``jobclass.store.db`` is now :mod:`jobclass.store.engine` and :mod:`jobclass.store.schema`."""

from jobclass.store.engine import *  # noqa: F403  # TEMP re-layout alias
from jobclass.store.engine import (  # noqa: F401  # TEMP re-layout alias
    DB_RETRY_ATTEMPTS,
    DB_RETRY_MAX_WAIT_S,
    DB_RETRY_MULTIPLIER,
    DatabaseUnavailable,
    database_now,
    format_ts,
    is_transient,
    make_engine,
    masked_url,
    normalize_url,
    to_utc,
    url_from_connection,
    utc_now,
    wait_for_database,
    with_db_retry,
)
from jobclass.store.schema import init_schema, open_database, schema_path, schema_statements  # noqa: F401  # TEMP re-layout alias
