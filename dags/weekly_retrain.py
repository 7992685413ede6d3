"""
### jobclass weekly retrain, with a promotion gate

Retrains the classifier on the O\\*NET corpus plus the human-reviewed labels in `posting_labels`,
compares it with the serving champion on one frozen held-out test set, and promotes it only if it
is better. Trigger it from the UI with **Trigger DAG w/ config** to change the parameters (empty
training knobs take the chosen recipe's values).

1. **build_training_set**: the reviewed labels, split by a hash of the posting id: a fixed slice
   is held out for evaluation and never trained on.
2. **finetune_embeddings**: fine-tuning of the base encoder with the recipe's objective (see the
   `recipe` parameter).
3. **train_head**: the logistic-regression head (with the semantic index and calibration); the
   bundle is saved under the models directory.
4. **register_challenger**: the new version in `model_versions` as a challenger.
5. **evaluate**: challenger and champion, both scored in this run, on the frozen reported-titles
   benchmark (the gate; its content hash is recorded), on the held-out reviewed labels (a second
   gate: no regression beyond `labels_tolerance`, once there are {min_gate_labels} or more) and, for the report
   only, on the real-postings benchmark.
6. **decide**: promote or keep, on `gate_metric` and `min_improvement` (`force_promote`,
   `dry_run`), computed once; **gate** branches on it. If the champion cannot be evaluated,
   nothing is promoted: the decision is recorded and the run fails (re-run it, or trigger with
   `force_promote=true`; a forced promotion is recorded as forced).
7. **promote** (atomic; emits the `jobclass_champion_model` asset) or **keep_champion**.
8. **record_and_report**: both scores and the decision in `model_versions`, and an HTML report
   per version under `<JOBCLASS_HOME>/reports/<version>.html`.
9. **prune** (a teardown: it runs even when a step failed): deletes the bundles of registered
   models that are neither the champion, nor among the `JOBCLASS_KEEP_CHALLENGERS` ({keep_challengers}) newest other
   models, nor the last retired champion, nor in use by a running prediction run; and retrain
   workdirs untouched for `JOBCLASS_KEEP_WORKDIR_DAYS` ({keep_workdir_days}) days. Each deleted path is logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronTriggerTimetable, dag, task, teardown

from jobclass.airflow.assets import MODEL_ASSET
from jobclass.airflow.dag_ids import RETRAIN_DAG_ID
from jobclass.airflow.params import retrain_doc, retrain_params
from jobclass.airflow.tasks import DEFAULT_ARGS, log_failure

DAG_ID = RETRAIN_DAG_ID


@dag(
    dag_id=DAG_ID,
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),  # Sundays 03:00 UTC
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args={**DEFAULT_ARGS, "retries": 2},
    on_failure_callback=log_failure,
    doc_md=retrain_doc(__doc__),
    tags=["jobclass", "training"],
    params=retrain_params(),
)
def jobclass_weekly_retrain():
    @task(multiple_outputs=False)
    def build_training_set(run_id=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retrain import build_training_set, retrain_workdir

        return build_training_set(engine(), retrain_workdir(run_id))

    @task(execution_timeout=timedelta(hours=8), multiple_outputs=False)
    def finetune_embeddings(training_set: dict, params=None, run_id=None) -> dict:
        from jobclass.pipeline.retrain import finetune_embeddings, params_dict, retrain_workdir

        return finetune_embeddings(params_dict(params), training_set, retrain_workdir(run_id))

    @task(execution_timeout=timedelta(hours=3), multiple_outputs=False)
    def train_head(training_set: dict, finetuned: dict, params=None) -> dict:
        from jobclass.pipeline.retrain import params_dict, train_head

        return train_head(params_dict(params), training_set, finetuned)

    @task(multiple_outputs=False)
    def register_challenger(challenger: dict, params=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retrain import params_dict, register_challenger

        return register_challenger(engine(), challenger, params_dict(params))

    @task(execution_timeout=timedelta(hours=2), multiple_outputs=False)
    def evaluate(challenger: dict, training_set: dict, params=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.gate import evaluate_models
        from jobclass.pipeline.retrain import params_dict

        return evaluate_models(engine(), challenger, training_set, params_dict(params))

    @task(multiple_outputs=False)
    def decide(evaluation: dict, params=None) -> dict:
        from jobclass.pipeline.gate import decide
        from jobclass.pipeline.retrain import params_dict

        return decide(evaluation, params_dict(params))

    @task.branch
    def gate(decision: dict) -> str:
        return "promote" if decision["promote"] else "keep_champion"

    @task(outlets=[MODEL_ASSET], multiple_outputs=False)
    def promote(challenger: dict, evaluation: dict, decision: dict, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from jobclass.airflow.connection import engine
        from jobclass.pipeline.errors import StaleComparisonError
        from jobclass.pipeline.gate import promote_challenger

        try:
            result = promote_challenger(engine(), challenger, evaluation, decision)
        except StaleComparisonError as exc:
            raise AirflowFailException(str(exc)) from exc  # a retry would compare against the wrong champion
        outlet_events[MODEL_ASSET].extra = {"version": challenger["version"], **evaluation["challenger"]}
        return result

    @task(multiple_outputs=False)
    def keep_champion(challenger: dict, decision: dict) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.gate import keep_champion

        return keep_champion(engine(), challenger, decision)

    @task(trigger_rule="none_failed_min_one_success", multiple_outputs=False)
    def record_and_report(
        challenger: dict, evaluation: dict, decision: dict, training_set: dict, params=None
    ) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from jobclass.airflow.connection import engine
        from jobclass.pipeline.errors import GateFailedError
        from jobclass.pipeline.gate import record_and_report
        from jobclass.pipeline.retrain import params_dict

        try:
            return record_and_report(engine(), challenger, evaluation, decision, params_dict(params), training_set)
        except GateFailedError as exc:
            raise AirflowFailException(str(exc)) from exc  # recorded; a retry would not evaluate again

    @teardown
    @task(multiple_outputs=False)
    def prune(run_id=None, ti=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retention import prune_retention
        from jobclass.pipeline.retrain import retrain_workdir

        challenger = ti.xcom_pull(task_ids="register_challenger") or {}  # none if the run failed before it
        keep = (challenger["version"],) if challenger else ()
        return prune_retention(engine(), keep=keep, current_workdir=retrain_workdir(run_id))

    training_set = build_training_set()
    finetuned = finetune_embeddings(training_set)
    challenger = register_challenger(train_head(training_set, finetuned))
    evaluation = evaluate(challenger, training_set)
    decision = decide(evaluation)  # the one place the gate decides; every later task reads it
    promoted = promote(challenger, evaluation, decision)
    kept = keep_champion(challenger, decision)
    gate(decision) >> [promoted, kept]
    [promoted, kept] >> record_and_report(challenger, evaluation, decision, training_set) >> prune()


jobclass_weekly_retrain()
