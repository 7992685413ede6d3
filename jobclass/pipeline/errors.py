"""The errors the pipelines raise on purpose, and which of them a retry would only repeat."""

from __future__ import annotations

NO_CHAMPION_HELP = (
    "No champion model is registered in the jobclass database. Either trigger this DAG with "
    "bootstrap_if_no_champion=true (trains and promotes the light default model, about 5 minutes on "
    "2 CPU cores), run `jobclass train --recipe bootstrap --promote always` (or `jobclass train` for the "
    "full model) against the same database, or trigger the `jobclass_weekly_retrain` DAG."
)


class NoChampionError(RuntimeError):
    """There is no champion and bootstrapping is off."""


class StaleComparisonError(RuntimeError):
    """The champion changed between evaluation and promotion."""


class NothingToClassify(RuntimeError):
    """A run without a data interval found no interval to classify (nothing ingested since the last run)."""


class RunDidNotReconcile(RuntimeError):
    """The run's rows read != predicted + rejected; recorded as ``mismatch``."""


def is_permanent(exc: BaseException) -> bool:
    """Whether a retry would only fail the same way: missing champion, corrupt bundle, a run that
    does not reconcile, bad values or a bug. Database and I/O trouble (``DatabaseUnavailable``,
    ``OSError``, SQLAlchemy errors) may pass, so it is retried."""
    from jobclass.model.bundle import BundleError

    permanent = (NoChampionError, RunDidNotReconcile, BundleError, ValueError, TypeError, AttributeError, LookupError)
    return isinstance(exc, permanent)


class GateFailedError(RuntimeError):
    """The gate could not decide (the champion could not be evaluated); nothing was promoted."""
