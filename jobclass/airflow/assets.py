"""The Airflow Assets jobclass emits: the predictions table and the champion model."""

from __future__ import annotations

from airflow.sdk import Asset

#: Updated by the nightly DAG after each interval is written (Parquet + SQL).
PREDICTIONS_ASSET = Asset(name="jobclass_predictions", uri="x-jobclass://predictions", group="jobclass")
#: Updated by the weekly retrain when a new champion is promoted.
MODEL_ASSET = Asset(name="jobclass_champion_model", uri="x-jobclass://models/champion", group="jobclass")
