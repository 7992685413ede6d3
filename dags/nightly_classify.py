"""
### jobclass nightly classification

Codes the job postings ingested during the data interval (one day, 02:00 UTC to 02:00 UTC) to
O*NET-SOC occupations with the champion model, and writes the top-k predictions to
date-partitioned Parquet and to the `predictions` table; `prediction_runs` reconciles
rows read = predicted + rejected.

* **resolve_model** reads the champion once; every later task gets that version and path, so a
  promotion during the run cannot mix two models. With no champion, a clearly logged bootstrap
  trains and promotes the light default model (param `bootstrap_if_no_champion`), or the run
  fails and says what to run.
* **plan_chunks** splits the interval's postings into bounded chunks.
* **classify_chunk** is mapped over the chunks; each writes its own Parquet part and SQL rows and
  returns only counts. A chunk whose output already exists is skipped on retry.
* **finish_run** reconciles the counts and emits the `jobclass_predictions` asset.

The database is the Airflow Connection `jobclass_db`; without it, the embedded SQLite default.
Re-running an interval replaces its own output and never duplicates it. Backfill past days with
`airflow backfill create --dag-id jobclass_nightly_classify --from-date ... --to-date ...`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from jobclass_common import DEFAULT_ARGS, PREDICTIONS_ASSET, log_failure

DAG_ID = "jobclass_nightly_classify"

# 02:00 UTC daily; the data interval of a run is the day before it: [prev 02:00, 02:00).
SCHEDULE = CronDataIntervalTimetable("0 2 * * *", timezone="UTC")


@dag(
    dag_id=DAG_ID,
    schedule=SCHEDULE,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
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
        "bootstrap_if_no_champion": Param(
            True,
            type="boolean",
            description="With no champion, train and promote the light default model (about 5 min on 2 cores).",
        ),
    },
)
def jobclass_nightly_classify():
    # Every task returns one small dict or list through XCom (multiple_outputs=False: one XCom, not one per key).
    @task(execution_timeout=timedelta(minutes=45), multiple_outputs=False)
    def resolve_model(params=None) -> dict:
        """The champion's version and bundle path, resolved once for the whole run."""
        from airflow.sdk.exceptions import AirflowFailException
        from jobclass_common import engine
        from jobclass.orchestration import NoChampionError, resolve_champion

        try:
            return resolve_champion(engine(), bootstrap=bool(params["bootstrap_if_no_champion"]))
        except NoChampionError as exc:
            raise AirflowFailException(str(exc)) from exc  # retrying cannot help: fail now, say what to run

    @task(multiple_outputs=False)
    def plan_chunks(model: dict, params=None, data_interval_start=None, data_interval_end=None) -> list[dict]:
        from jobclass_common import engine
        from jobclass.orchestration import plan

        return plan(engine(), model, data_interval_start, data_interval_end, chunk_size=int(params["chunk_size"]))

    @task(execution_timeout=timedelta(hours=1), max_active_tis_per_dagrun=2, multiple_outputs=False)
    def classify_chunk(chunk: dict, model: dict, params=None, data_interval_start=None, data_interval_end=None) -> dict:
        from jobclass_common import engine
        from jobclass.orchestration import classify

        return classify(engine(), model, chunk, data_interval_start, data_interval_end, top_k=int(params["top_k"]))

    @task(outlets=[PREDICTIONS_ASSET], trigger_rule="none_failed", multiple_outputs=False)
    def finish_run(model: dict, results, outlet_events=None, data_interval_start=None, data_interval_end=None) -> dict:
        from jobclass_common import engine
        from jobclass.orchestration import finish

        summary = finish(engine(), model, data_interval_start, data_interval_end, [r for r in results if r])
        outlet_events[PREDICTIONS_ASSET].extra = summary
        return summary

    @task(trigger_rule="one_failed", multiple_outputs=False)
    def record_failure(model: dict, data_interval_start=None, data_interval_end=None) -> None:
        """Runs only when a chunk failed for good: the run is marked failed in prediction_runs."""
        from jobclass_common import engine
        from jobclass.orchestration import record_failure

        record_failure(engine(), model, data_interval_start, data_interval_end, "a classify_chunk task failed")

    model = resolve_model()
    chunks = plan_chunks(model)
    results = classify_chunk.partial(model=model).expand(chunk=chunks)
    finish_run(model, results)
    results >> record_failure(model)


jobclass_nightly_classify()
