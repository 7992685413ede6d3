"""The model registry over ``model_versions``: one champion, challengers, retired and rejected models.

Promotion verifies the bundle on disk first, then swaps champions in one transaction; a partial
unique index in the schema guarantees there is never more than one champion. The gate promotes by
compare-and-swap (:func:`promote_replacing`): only while the champion is still the one it compared
against, so a promotion made meanwhile (by hand) is never overwritten without comparison.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobclass.store.engine import format_ts, utc_now

log = logging.getLogger(__name__)

STATUSES = ("champion", "challenger", "retired", "rejected")


class UnknownModelError(ValueError):
    """No model with that version is registered."""


class ChampionChangedError(RuntimeError):
    """A compare-and-swap promotion found another champion than the one it expected; nothing changed."""

    def __init__(self, version: str, expected: str | None, found: str | None) -> None:
        super().__init__(
            f"{version} was not promoted: the champion is {found or 'none'}, not {expected or 'none'} as expected."
        )
        self.version, self.expected, self.found = version, expected, found


@dataclass(frozen=True)
class ModelVersion:
    version: str
    path: str
    status: str  # champion | challenger | retired | rejected
    metrics: dict[str, Any]
    benchmark_hash: str | None
    created_at: str
    promoted_at: str | None
    reason: str | None


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return str(value)


def metrics_json(metrics: dict[str, Any] | None) -> str:
    return json.dumps(metrics or {}, sort_keys=True, default=_json_default)


def _model(row: sa.RowMapping) -> ModelVersion:
    return ModelVersion(
        version=row["version"],
        path=row["path"],
        status=row["status"],
        metrics=json.loads(row["metrics"] or "{}"),
        benchmark_hash=row["benchmark_hash"],
        created_at=row["created_at"],
        promoted_at=row["promoted_at"],
        reason=row["reason"],
    )


_SELECT = "SELECT version, path, status, metrics, benchmark_hash, created_at, promoted_at, reason FROM model_versions"


def _get(conn: Connection, version: str) -> ModelVersion | None:
    row = conn.execute(sa.text(f"{_SELECT} WHERE version = :version"), {"version": version}).mappings().first()
    return _model(row) if row else None


def _require(conn: Connection, version: str) -> ModelVersion:
    model = _get(conn, version)
    if model is None:
        raise UnknownModelError(f"no model version {version!r} is registered; register it first.")
    return model


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}.")


def register_model(
    engine: Engine,
    version: str,
    path: str | Path,
    metrics: dict[str, Any],
    benchmark_hash: str | None,
    status: str = "challenger",
    reason: str | None = None,
) -> ModelVersion:
    """Insert or update a model (upsert on ``version``; ``created_at`` is kept).

    Registering again never demotes the current champion. ``status="champion"`` registers the
    model and then goes through :func:`promote` (bundle check included). To store a registered
    model's scores, use :func:`update_metrics`.
    """
    _check_status(status)
    initial = "challenger" if status == "champion" else status
    params = {
        "version": version,
        "path": str(Path(path).resolve()),
        "status": initial,
        "metrics": metrics_json(metrics),
        "benchmark_hash": benchmark_hash,
        "created_at": format_ts(utc_now()),
        "reason": reason,
    }
    upsert = sa.text(
        "INSERT INTO model_versions (version, path, status, metrics, benchmark_hash, created_at, reason) "
        "VALUES (:version, :path, :status, :metrics, :benchmark_hash, :created_at, :reason) "
        "ON CONFLICT (version) DO UPDATE SET path = excluded.path, metrics = excluded.metrics, "
        "benchmark_hash = excluded.benchmark_hash, "
        "reason = COALESCE(excluded.reason, model_versions.reason), "
        "status = CASE WHEN model_versions.status = 'champion' THEN 'champion' ELSE excluded.status END"
    )
    with engine.begin() as conn:
        conn.execute(upsert, params)
        model = _require(conn, version)
    log.info("registered model %s (%s)", version, model.status)
    if status == "champion" and model.status != "champion":
        return promote(engine, version, reason or "registered as champion")
    return model


def update_metrics(engine: Engine, version: str, metrics: dict[str, Any], benchmark_hash: str | None) -> ModelVersion:
    """Replace a registered model's metrics and benchmark hash; its status, path and reason stay."""
    with engine.begin() as conn:
        _require(conn, version)
        conn.execute(
            sa.text(
                "UPDATE model_versions SET metrics = :metrics, benchmark_hash = :benchmark_hash "
                "WHERE version = :version"
            ),
            {"version": version, "metrics": metrics_json(metrics), "benchmark_hash": benchmark_hash},
        )
        return _require(conn, version)


def get_model(engine: Engine, version: str) -> ModelVersion | None:
    with engine.connect() as conn:
        return _get(conn, version)


def get_champion(engine: Engine) -> ModelVersion | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"{_SELECT} WHERE status = 'champion'")).mappings().first()
    return _model(row) if row else None


def list_models(engine: Engine) -> list[ModelVersion]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"{_SELECT} ORDER BY created_at, version")).mappings().all()
    return [_model(r) for r in rows]


def verify_model_bundle(path: str | Path) -> None:
    """Raise :class:`jobclass.model.bundle.BundleError` when the bundle is missing, incomplete or corrupt."""
    from jobclass.model.bundle import verify_bundle  # the ML stack is only needed when promoting

    verify_bundle(path)


def _verified(engine: Engine, version: str) -> ModelVersion:
    """The registered model ``version``, its bundle verified (BundleError: corrupt or incomplete)."""
    model = get_model(engine, version)
    if model is None:
        raise UnknownModelError(f"no model version {version!r} is registered; register it before promoting.")
    verify_model_bundle(model.path)
    return model


def promote(engine: Engine, version: str, reason: str) -> ModelVersion:
    """Make ``version`` the champion, whichever model is champion now (a manual promotion): its
    bundle must verify; in ONE transaction the current champion is retired and this one promoted
    (with ``promoted_at`` and ``reason``). The gate uses :func:`promote_replacing` instead."""
    _verified(engine, version)
    now = format_ts(utc_now())
    with engine.begin() as conn:
        current = _require(conn, version)
        if current.status == "champion":
            return current
        conn.execute(
            sa.text(
                "UPDATE model_versions SET status = 'retired', reason = :why "
                "WHERE status = 'champion' AND version <> :version"
            ),
            {"version": version, "why": f"replaced by {version}: {reason}"},
        )
        conn.execute(
            sa.text(
                "UPDATE model_versions SET status = 'champion', promoted_at = :now, reason = :reason "
                "WHERE version = :version"
            ),
            {"version": version, "now": now, "reason": reason},
        )
        promoted = _require(conn, version)
    log.info("model %s promoted to champion: %s", version, reason)
    return promoted


_RETIRE_EXPECTED = sa.text(
    "UPDATE model_versions SET status = 'retired', reason = :why "
    "WHERE status = 'champion' AND version = :expected AND version <> :version"
)
_PROMOTE_IF_NO_CHAMPION = sa.text(
    "UPDATE model_versions SET status = 'champion', promoted_at = :now, reason = :reason "
    "WHERE version = :version AND NOT EXISTS (SELECT 1 FROM model_versions WHERE status = 'champion')"
)


def _swap(conn: Connection, version: str, expected: str | None, reason: str) -> bool:
    """The compare-and-swap's writes: retire ``expected`` if it is still the champion, then promote
    ``version`` if no champion is left. False when the champion was not ``expected`` (roll back then)."""
    if expected is not None:
        why = f"replaced by {version}: {reason}"
        if conn.execute(_RETIRE_EXPECTED, {"version": version, "expected": expected, "why": why}).rowcount != 1:
            return False
    params = {"version": version, "now": format_ts(utc_now()), "reason": reason}
    return conn.execute(_PROMOTE_IF_NO_CHAMPION, params).rowcount == 1


def promote_replacing(engine: Engine, version: str, reason: str, *, expected: str | None) -> ModelVersion:
    """Make ``version`` the champion only while the champion is ``expected`` (None: while there is no
    champion): a compare-and-swap, the comparison inside the UPDATEs of ONE transaction. The bundle
    must verify, as for :func:`promote`.

    Raises :class:`ChampionChangedError` (``found``: the champion now), having changed nothing, when
    the champion is another model: one promoted since ``expected`` was read, or one whose promotion
    commits first (PostgreSQL: the champion's row lock and the one-champion index order the two).
    """
    _verified(engine, version)
    with engine.connect() as conn:
        transaction = conn.begin()  # the writes come first: no read snapshot older than the swap
        try:
            swapped = _swap(conn, version, expected, reason)
        except sa.exc.IntegrityError:  # the one-champion index: a concurrent promotion committed first
            swapped = False
        if not swapped:
            transaction.rollback()
            found = conn.execute(sa.text("SELECT version FROM model_versions WHERE status = 'champion'")).scalar()
            raise ChampionChangedError(version, expected, found)
        promoted = _require(conn, version)
        transaction.commit()
    log.info("model %s promoted to champion, replacing %s: %s", version, expected or "no champion", reason)
    return promoted


def record_decision(
    engine: Engine, version: str, status: str, reason: str, metrics: dict[str, Any] | None = None
) -> None:
    """Record a non-promotion decision (challenger kept, rejected, retired) with its reason;
    ``metrics`` are merged into the stored ones. Use :func:`promote` to make a champion, or to replace
    one: the current champion's status is never changed here."""
    _check_status(status)
    if status == "champion":
        raise ValueError("use promote() to make a champion: it verifies the bundle and retires the old one.")
    with engine.begin() as conn:
        model = _require(conn, version)
        if model.status == "champion":  # demoting it would leave no model serving
            raise ValueError(f"{version} is the champion: promote another model to replace it, not {status!r}.")
        merged = {**model.metrics, **(metrics or {})}
        conn.execute(
            sa.text(
                "UPDATE model_versions SET status = :status, reason = :reason, metrics = :metrics "
                "WHERE version = :version"
            ),
            {"version": version, "status": status, "reason": reason, "metrics": metrics_json(merged)},
        )
    log.info("model %s: %s (%s)", version, status, reason)
