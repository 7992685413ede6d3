"""The weekly retrain's Params: each choice and default read from where the library declares it.

The gate's metrics and tolerances come from :mod:`jobclass.pipeline.gate`, the recipes from
:mod:`jobclass.training.recipes`, retention's settings from :mod:`jobclass.pipeline.retention`; nothing is
restated here. Light at import: the DAG file is parsed often, without the ML stack.
"""

from __future__ import annotations

from airflow.sdk import Param

from jobclass.pipeline.gate import DEFAULT_GATE_METRIC, GATE_METRICS, LABELS_TOLERANCE, MIN_GATE_LABELS
from jobclass.pipeline.retention import KEEP_CHALLENGERS, KEEP_WORKDIR_DAYS
from jobclass.training.recipes import DEFAULT_RECIPE, RETRAIN_RECIPES, describe

#: The scheduled retrain asks a challenger to gain this much (``jobclass train`` asks only that it gains).
SCHEDULED_MIN_IMPROVEMENT = 0.005
DEVICES = ("auto", "cpu", "cuda")


def retrain_doc(template: str) -> str:
    """The DAG's documentation with the gate's and retention's settings filled in."""
    return template.format(
        min_gate_labels=MIN_GATE_LABELS,
        keep_challengers=KEEP_CHALLENGERS,
        keep_workdir_days=f"{KEEP_WORKDIR_DAYS:g}",
    )


def retrain_params() -> dict[str, Param]:
    """The Params of ``jobclass_weekly_retrain`` (a JSON schema each: the UI's form, checked on trigger)."""
    return {
        # Training knobs: empty means the recipe's value.
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
            SCHEDULED_MIN_IMPROVEMENT,
            type="number",
            minimum=0,
            maximum=1,
            title="Min improvement",
            description="The challenger must beat the champion by at least this much.",
        ),
        "gate_metric": Param(DEFAULT_GATE_METRIC, type="string", enum=list(GATE_METRICS), title="Gate metric"),
        "labels_tolerance": Param(
            LABELS_TOLERANCE,
            type="number",
            minimum=0,
            maximum=1,
            title="Held-out labels tolerance",
            description=(
                "The challenger may score at most this much below the champion (gate metric) on the held-out "
                f"reviewed labels, once there are at least {MIN_GATE_LABELS} of them."
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
            DEVICES[0],
            type="string",
            enum=list(DEVICES),
            title="Device",
            description="auto uses CUDA when a GPU is visible.",
        ),
        "recipe": Param(
            DEFAULT_RECIPE,
            type="string",
            enum=list(RETRAIN_RECIPES),
            title="Recipe",
            description=describe(RETRAIN_RECIPES),
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
    }
