#!/usr/bin/env bash
# The main job on the embedded default: the real nightly DAG, run by `airflow dags test` on SQLite
# over the vendored USAJOBS postings, then a run summary and an example SQL query.
# The first run bootstraps a light model (and says so); later runs reuse the champion.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
# JOBCLASS_HOME, AIRFLOW_HOME and the jobclass-managed airflow.cfg that `make ui` starts Airflow with.
# shellcheck source=scripts/airflow_env.sh
source scripts/airflow_env.sh
# The main job always runs this checkout's DAGs, even when airflow.cfg was edited by hand.
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags" AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False COLUMNS="${COLUMNS:-160}"
# The demo interval: the run of 2024-03-05 02:00 UTC covers [03-04 02:00, 03-05 02:00).
LOGICAL_DATE="${LOGICAL_DATE:-2024-03-05T02:00:00+00:00}"
INGESTED_AT="${INGESTED_AT:-2024-03-04T06:00:00Z}"

echo "==> loading the USAJOBS demo postings into the jobclass database (idempotent)"
jobclass db load-postings --ingested-at "$INGESTED_AT"

echo "==> preparing Airflow's metadata database in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

echo "==> airflow dags test jobclass_nightly_classify $LOGICAL_DATE"
started=$(date +%s)
airflow dags test jobclass_nightly_classify "$LOGICAL_DATE" >"$AIRFLOW_HOME/dags-test.log" 2>&1 || {
  grep -E "ERROR|BOOTSTRAP|Traceback|Error" "$AIRFLOW_HOME/dags-test.log" | tail -30
  echo "The nightly DAG failed: the full log is $AIRFLOW_HOME/dags-test.log" >&2
  exit 1
}
grep -E "BOOTSTRAP|Champion model for this run|DagRun Finished" "$AIRFLOW_HOME/dags-test.log" | sed -E "s/ +\[(info|warning) *\]/ \1:/" | cut -c1-200 || true
echo "==> done in $(( $(date +%s) - started ))s (log: $AIRFLOW_HOME/dags-test.log)"

jobclass db query sql/queries/recent_runs.sql --limit 3
jobclass db query sql/queries/counts_by_major_group.sql --limit 10
echo "==> see this run in the Airflow UI: make ui (then DAG jobclass_nightly_classify > the run > Run report)"
