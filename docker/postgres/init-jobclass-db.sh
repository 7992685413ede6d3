#!/usr/bin/env bash
# docker-entrypoint-initdb.d: runs once, when the postgres volume is first created, as the
# superuser (POSTGRES_USER). The jobclass database lives beside Airflow's metadata database on the
# same server, and jobclass connects to it as a role of its own (jobclass-db.psql), whose password is
# JOBCLASS_DB_PASSWORD. Its tables are created by `jobclass db init` (airflow-init) or by the first
# DAG run, as that role.
set -eo pipefail
: "${JOBCLASS_DB_PASSWORD:?JOBCLASS_DB_PASSWORD is not set: the jobclass database role needs a password}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    -v jobclass_role=jobclass -v jobclass_db=jobclass -v metadata_db="${POSTGRES_DB:-$POSTGRES_USER}" \
    -v jobclass_password="$JOBCLASS_DB_PASSWORD" \
    -f /docker-entrypoint-initdb.d/jobclass-db.psql
