"""
### jobclass weekly retrain, with a promotion gate

Retrains the classifier on the O\\*NET corpus plus the human-reviewed labels in `posting_labels`,
compares it with the serving champion on one frozen held-out test set, and promotes it only if it
is better. Trigger it from the UI with **Trigger DAG w/ config** to change the parameters.

1. **build_training_set**: the reviewed labels, split by a hash of the posting id: a fixed slice
   is held out for evaluation and never trained on.
2. **finetune_embeddings**: fine-tuning of the MiniLM encoder (normalised softmax over one proxy per occupation, or MNRL).
3. **train_head**: the logistic-regression head (with the semantic index and calibration); the
   bundle is saved under the models directory.
4. **register_challenger**: the new version in `model_versions` as a challenger.
5. **evaluate**: challenger and champion, both scored in this run, on the frozen reported-titles
   benchmark (the gate; its content hash is recorded), on the held-out reviewed labels (a second
   gate: no regression beyond `labels_tolerance`, once there are 30 or more) and, for the report
   only, on the real-postings benchmark.
6. **gate**: a branch on `gate_metric` and `min_improvement` (`force_promote`, `dry_run`). If the
   champion cannot be evaluated, nothing is promoted: the decision is recorded and the run fails
   (re-run it, or trigger with `force_promote=true`; a forced promotion is recorded as forced).
7. **promote** (atomic; emits the `jobclass_champion_model` asset) or **keep_champion**.
8. **record_and_report**: both scores and the decision in `model_versions`, and an HTML report
   per version under `<JOBCLASS_HOME>/reports/<version>.html`.
9. **prune** (a teardown: it runs even when a step failed): deletes the bundles of registered
   models that are neither the champion, nor among the `JOBCLASS_KEEP_CHALLENGERS` (3) newest other
   models, nor the last retired champion, nor in use by a running prediction run; and retrain
   workdirs untouched for `JOBCLASS_KEEP_WORKDIR_DAYS` (14) days. Each deleted path is logged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronTriggerTimetable, Param, dag, task, teardown

from jobclass.airflow.assets import MODEL_ASSET
from jobclass.airflow.tasks import DEFAULT_ARGS, log_failure

DAG_ID = "jobclass_weekly_retrain"


@dag(
    dag_id=DAG_ID,
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="UTC"),  # Sundays 03:00 UTC
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args={**DEFAULT_ARGS, "retries": 2},
    on_failure_callback=log_failure,
    doc_md=__doc__,
    tags=["jobclass", "training"],
    params={
        # Training knobs: empty means the recipe's value (default recipe: 2 epochs, batch 64, lr 5e-5).
        "epochs": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=20,
            title="Epochs",
            description="Fine-tuning epochs over the training titles and tasks (may be fractional); empty: the recipe's.",
        ),
        "batch_size": Param(
            None,
            type=["null", "integer"],
            minimum=2,
            maximum=1024,
            title="Batch size",
            description="Fine-tuning batch size; empty: the recipe's.",
        ),
        "learning_rate": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=0.1,
            title="Learning rate",
            description="Fine-tuning learning rate; empty: the recipe's.",
        ),
        "max_examples": Param(
            None,
            type=["null", "integer"],
            minimum=16,
            title="Max training examples",
            description="Cap on fine-tuning examples; empty: every training title.",
        ),
        "min_improvement": Param(
            0.005,
            type="number",
            minimum=0,
            maximum=1,
            title="Min improvement",
            description="The challenger must beat the champion by at least this much.",
        ),
        "gate_metric": Param("acc@1", type="string", enum=["acc@1", "acc@5", "mrr@10"], title="Gate metric"),
        "labels_tolerance": Param(
            0.02,
            type="number",
            minimum=0,
            maximum=1,
            title="Held-out labels tolerance",
            description=(
                "The challenger may score at most this much below the champion (gate metric) on the held-out "
                "reviewed labels, once there are at least 30 of them."
            ),
        ),
        "force_promote": Param(
            False,
            type="boolean",
            title="Force promote",
            description=(
                "Promote even if the challenger is not better, or the champion could not be evaluated "
                "(recorded as forced)."
            ),
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Train, evaluate and report, but never promote."
        ),
        "device": Param(
            "auto",
            type="string",
            enum=["auto", "cpu", "cuda"],
            title="Device",
            description="auto uses CUDA when a GPU is visible.",
        ),
        "recipe": Param(
            "default",
            type="string",
            enum=["default", "titles", "mnrl", "tiny"],
            title="Recipe",
            description=(
                "default: normalised-softmax fine-tuning over one proxy per occupation, on its titles and task "
                "statements (3 epochs); titles: the same on titles only, 2 epochs (the earlier default); mnrl: the "
                "earlier contrastive recipe; tiny: a few training steps on a small corpus (tests, smoke runs)."
            ),
        ),
        "max_steps": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Max fine-tuning steps",
            description="A time budget for fine-tuning; empty: no cap.",
        ),
        "eval_limit": Param(
            None,
            type=["null", "integer"],
            minimum=50,
            title="Evaluation subsample",
            description="Evaluate on a fixed subsample of the reported titles; empty: all.",
        ),
    },
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
    def evaluate(challenger: dict, training_set: dict, params=None, run_id=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retrain import evaluate_models, params_dict, retrain_workdir

        return evaluate_models(engine(), challenger, training_set, params_dict(params), retrain_workdir(run_id))

    @task.branch
    def gate(evaluation: dict, params=None) -> str:
        from jobclass.pipeline.retrain import decide, params_dict

        decision = decide(evaluation, params_dict(params))
        return "promote" if decision["promote"] else "keep_champion"

    @task(outlets=[MODEL_ASSET], multiple_outputs=False)
    def promote(challenger: dict, evaluation: dict, params=None, outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from jobclass.airflow.connection import engine
        from jobclass.pipeline.errors import StaleComparisonError
        from jobclass.pipeline.retrain import decide, params_dict, promote_challenger

        try:
            result = promote_challenger(engine(), challenger, evaluation, decide(evaluation, params_dict(params)))
        except StaleComparisonError as exc:
            raise AirflowFailException(str(exc)) from exc  # a retry would compare against the wrong champion
        outlet_events[MODEL_ASSET].extra = {"version": challenger["version"], **evaluation["challenger"]}
        return result

    @task(multiple_outputs=False)
    def keep_champion(challenger: dict, evaluation: dict, params=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retrain import decide, keep_champion, params_dict

        return keep_champion(engine(), challenger, decide(evaluation, params_dict(params)), params_dict(params))

    @task(trigger_rule="none_failed_min_one_success", multiple_outputs=False)
    def record_and_report(challenger: dict, evaluation: dict, training_set: dict, params=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from jobclass.airflow.connection import engine
        from jobclass.pipeline.errors import GateFailedError
        from jobclass.pipeline.retrain import decide, params_dict, record_and_report

        p = params_dict(params)
        try:
            return record_and_report(engine(), challenger, evaluation, decide(evaluation, p), p, training_set)
        except GateFailedError as exc:
            raise AirflowFailException(str(exc)) from exc  # recorded; a retry would not evaluate again

    @teardown
    @task(multiple_outputs=False)
    def prune(run_id=None, ti=None) -> dict:
        from jobclass.airflow.connection import engine
        from jobclass.pipeline.retrain import prune_retention, retrain_workdir

        challenger = ti.xcom_pull(task_ids="register_challenger") or {}  # none if the run failed before it
        keep = (challenger["version"],) if challenger else ()
        return prune_retention(engine(), keep=keep, current_workdir=retrain_workdir(run_id))

    training_set = build_training_set()
    finetuned = finetune_embeddings(training_set)
    challenger = register_challenger(train_head(training_set, finetuned))
    evaluation = evaluate(challenger, training_set)
    promoted = promote(challenger, evaluation)
    kept = keep_champion(challenger, evaluation)
    gate(evaluation) >> [promoted, kept]
    [promoted, kept] >> record_and_report(challenger, evaluation, training_set) >> prune()


jobclass_weekly_retrain()
