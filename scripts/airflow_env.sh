# Sourced by scripts/main_job.sh and scripts/ui.sh: the local Airflow on the embedded default.
#   JOBCLASS_HOME  the jobclass data (default <repo>/data: the SQLite database, models, Parquet)
#   AIRFLOW_HOME   Airflow's home (default $JOBCLASS_HOME/airflow: its metadata database, logs, airflow.cfg)
# and writes the jobclass-managed $AIRFLOW_HOME/airflow.cfg (jobclass.airflow.local_config): the
# repository's dags/ and plugins/, no example DAGs, the UI on 127.0.0.1:8080, user admin. A cfg
# whose first line is not the jobclass marker was edited by hand and is left alone.
# shellcheck shell=bash
JOBCLASS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$JOBCLASS_REPO/.venv/bin:$PATH" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export JOBCLASS_HOME="${JOBCLASS_HOME:-$JOBCLASS_REPO/data}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$JOBCLASS_HOME/airflow}"
# Task processes report their state to the api-server's execution API, by default on port 8080:
# follow the UI's port when AIRFLOW__API__PORT moves it, or every task fails on "connection refused".
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:${AIRFLOW__API__PORT:-8080}/execution/}"
mkdir -p "$AIRFLOW_HOME"
"$JOBCLASS_REPO/.venv/bin/python" -m jobclass.airflow.local_config "$AIRFLOW_HOME" "$JOBCLASS_REPO"
