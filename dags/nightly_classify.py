"""
### jobclass nightly classification

Codes the job postings ingested during the data interval (one day, 02:00 UTC to 02:00 UTC) to
O*NET-SOC occupations with the champion model, and writes the top-k predictions to
date-partitioned Parquet and to the `predictions` table; `prediction_runs` reconciles
rows read = predicted + rejected.

* **resolve_interval** fixes the interval once for the whole run. A scheduled run (or one
  triggered with a logical date) uses its data interval. A run triggered without a logical date
  (the UI's default, `airflow dags trigger`, REST `"logical_date": null`) has no data interval: it
  classifies everything ingested since the end of the last successful run's interval up to the
  run's `run_after` (with no successful run yet: everything ingested before `run_after`). The
  chosen interval is logged; when it is empty the run is skipped.
* **resolve_model** reads the champion once; every later task gets that version and path, so a
  promotion during the run cannot mix two models. With no champion, a clearly logged bootstrap
  trains and promotes the light default model (param `bootstrap_if_no_champion`), or the run
  fails and says what to run.
* **plan_chunks** waits for postings loads in flight, then splits the interval's postings into
  bounded chunks.
* **classify_chunk** is mapped over the chunks; each writes its own Parquet part and SQL rows and
  returns only counts. A chunk whose output already exists is skipped on retry.
* **finish_run** reconciles the counts and emits the `jobclass_predictions` asset.
* **recode_backlog** then re-runs each earlier interval (param `backlog_days` back) that holds a
  pending posting whose title a reviewer decided since it was coded: the memory codes it as it
  would a new posting with that title, so a decision pays back at once on the backlog too. Each
  re-run is its interval's own (rows and Parquet part replaced, reconciled). It runs only after a
  reconciled run (not on a skipped, empty manual run); when it fails, the DAG run fails, while the
  night's own row in `prediction_runs` stays `success`. `jobclass memory recode` does the same by hand.
* **record_failure** runs when a task before finish_run failed: the run's row in
  `prediction_runs` is marked `failed` (created if the run failed before it started), naming the
  failed tasks. (finish_run records its own outcome: `mismatch` when the counts do not reconcile.)

An error that a retry would only repeat (no champion, a corrupt bundle, a run that does not
reconcile, a bug) fails its task at once; database and I/O errors are retried.

The database is the Airflow Connection `jobclass_db`; without it, the embedded SQLite default.
Re-running an interval replaces its own output and never duplicates it. Backfill past days with
`airflow backfill create --dag-id jobclass_nightly_classify --from-date ... --to-date ...`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from jobclass.airflow.assets import PREDICTIONS_ASSET
from jobclass.airflow.dag_ids import NIGHTLY_DAG_ID
from jobclass.airflow.tasks import DEFAULT_ARGS, log_failure

DAG_ID = NIGHTLY_DAG_ID

# 02:00 UTC daily; the data interval of a run is the day before it: [prev 02:00, 02:00).
SCHEDULE = CronDataIntervalTimetable("0 2 * * *", timezone="UTC")


@dag(
    dag_id=DAG_ID,
    schedule=SCHEDULE,
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=DEFAULT_ARGS,
    on_failure_callback=log_failure,
    doc_md=__doc__,
    tags=["jobclass", "nightly"],
    params={
        "chunk_size": Param(
            2000, type="integer", minimum=1, maximum=100_000, description="Postings per mapped classify task."
        ),
        "top_k": Param(5, type="integer", minimum=1, maximum=20, description="Predictions kept per posting."),
        "backlog_days": Param(
            30,
            type="integer",
            minimum=0,
            maximum=366,
            description="Re-run the intervals of this many days back whose pending postings a review has settled since (0: off).",
        ),
        "bootstrap_if_no_champion": Param(
            True,
            type="boolean",
            description="With no champion, train and promote the light default model (about 5 min on 2 cores).",
        ),
    },
)
def jobclass_nightly_classify():
    # Every task returns one small dict or list through XCom (multiple_outputs=False: one XCom, not one per key).
    @task(multiple_outputs=False)
    def resolve_interval(dag_run=None, data_interval_start=None, data_interval_end=None) -> dict:
        """The interval of this run: its data interval, or (no logical date) what is pending up to run_after."""
        from airflow.sdk.exceptions import AirflowSkipException

        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.errors import NothingToClassify
        from jobclass.pipeline.nightly import run_interval

        with fail_fast():
            try:
                return run_interval(engine(), data_interval_start, data_interval_end, dag_run.run_after)
            except NothingToClassify as exc:
                raise AirflowSkipException(str(exc)) from exc

    @task(execution_timeout=timedelta(minutes=45), multiple_outputs=False)
    def resolve_model(params=None) -> dict:
        """The champion's version and bundle path, resolved once for the whole run."""
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.nightly import resolve_champion

        with fail_fast():  # no champion or a corrupt bundle: retrying cannot help, fail now and say what to run
            return resolve_champion(engine(), bootstrap=bool(params["bootstrap_if_no_champion"]))

    @task(multiple_outputs=False)
    def plan_chunks(model: dict, interval: dict, params=None) -> list[dict]:
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.nightly import plan

        with fail_fast():
            return plan(engine(), model, interval["start"], interval["end"], chunk_size=int(params["chunk_size"]))

    @task(execution_timeout=timedelta(hours=1), max_active_tis_per_dagrun=2, multiple_outputs=False)
    def classify_chunk(chunk: dict, model: dict, interval: dict, params=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.nightly import predict_chunk

        with fail_fast():
            return predict_chunk(engine(), model, chunk, interval["start"], interval["end"], top_k=int(params["top_k"]))

    # none_failed_min_one_success: skipped, not run, when resolve_interval skipped the whole run.
    @task(outlets=[PREDICTIONS_ASSET], trigger_rule="none_failed_min_one_success", multiple_outputs=False)
    def finish_run(model: dict, interval: dict, results, outlet_events=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.nightly import finish

        with fail_fast():
            summary = finish(engine(), model, interval["start"], interval["end"], [r for r in results if r])
        outlet_events[PREDICTIONS_ASSET].extra = summary
        return summary

    @task(execution_timeout=timedelta(hours=2), multiple_outputs=False)
    def recode_backlog(model: dict, interval: dict, summary: dict, params=None) -> dict:
        """Earlier intervals whose pending postings a decision has settled since: re-run with the memory."""
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import fail_fast
        from jobclass.pipeline.nightly import backlog

        with fail_fast():
            return backlog(
                engine(),
                model,
                interval["end"],
                top_k=int(params["top_k"]),
                lookback_days=int(params["backlog_days"]),
                chunk_size=int(params["chunk_size"]),
            )

    @task(trigger_rule="one_failed", multiple_outputs=False)
    def record_failure(
        model: dict | None,
        interval: dict | None,
        ti=None,
        dag_run=None,
        data_interval_start=None,
        data_interval_end=None,
    ) -> None:
        """Runs when a task failed: the run's row in prediction_runs is marked failed (created if need be).

        ``model`` or ``interval`` is None when the task that resolves it failed: the row then says
        no model, and the interval is resolved here once more.
        """
        from jobclass.airflow.connection import engine
        from jobclass.airflow.tasks import failed_tasks
        from jobclass.pipeline.nightly import record_failure, run_interval

        eng = engine()
        if interval is None:
            interval = run_interval(eng, data_interval_start, data_interval_end, dag_run.run_after)
        reason = f"failed tasks: {', '.join(failed_tasks(ti, dag_run)) or 'unknown'} (see their logs)"
        record_failure(eng, model, interval["start"], interval["end"], reason)

    interval = resolve_interval()
    model = resolve_model()
    interval >> model  # an empty manual run is skipped before any model is resolved (or bootstrapped)
    chunks = plan_chunks(model, interval)
    results = classify_chunk.partial(model=model, interval=interval).expand(chunk=chunks)
    summary = finish_run(model, interval, results)
    recode_backlog(model, interval, summary)
    # Not downstream of finish_run, which records its own outcome (a mismatch): both stay leaves, so
    # the run fails when any task failed, whatever record_failure did.
    [chunks, results] >> record_failure(model, interval)


jobclass_nightly_classify()
