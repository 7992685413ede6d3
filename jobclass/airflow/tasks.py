"""What every jobclass task shares: default args, failing fast on errors a retry would repeat, failure logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

log = logging.getLogger("jobclass.airflow")


@contextmanager
def fail_fast() -> Iterator[None]:
    """Fail the task at once, without its retries, when a retry would only fail the same way.

    ``jobclass.pipeline.errors.is_permanent`` decides (no champion, a corrupt bundle, a run that does
    not reconcile, bad values, a bug); database and I/O errors propagate unchanged and are retried.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from jobclass.pipeline.errors import is_permanent

    try:
        yield
    except Exception as exc:
        if not is_permanent(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {exc} (not retried: a retry would fail the same way)") from exc


def failed_tasks(ti: Any, dag_run: Any) -> list[str]:
    """The task ids (``task[map index]`` for mapped ones) that failed in this DAG run, sorted."""
    states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    return sorted(task for task, state in states.items() if state == "failed")


def log_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: one clear, greppable line with what failed and where to look."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exc = context.get("exception")
    log.error(
        "JOBCLASS FAILURE dag=%s task=%s map_index=%s run=%s try=%s interval=[%s, %s): %s: %s",
        getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        getattr(ti, "task_id", None),
        getattr(ti, "map_index", None),
        getattr(dag_run, "run_id", None) or context.get("run_id"),
        getattr(ti, "try_number", None),
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        type(exc).__name__ if exc is not None else "no exception",
        exc if exc is not None else context.get("reason", ""),
    )


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "jobclass",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": log_failure,
}
