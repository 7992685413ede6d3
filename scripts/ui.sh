#!/usr/bin/env bash
# `make ui`: the Airflow UI on the embedded default, with the jobclass DAGs and plugin (no examples).
# `airflow standalone` runs the scheduler, dag-processor, api-server (the UI) and triggerer in the
# foreground; Ctrl-C stops them all. The login is printed before it starts.
#   scripts/ui.sh --config-only   write airflow.cfg, migrate, print the URL and login, and stop there
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/airflow_env.sh
source scripts/airflow_env.sh
export COLUMNS="${COLUMNS:-160}"

echo "==> loading the USAJOBS demo postings into the jobclass database (idempotent)"
jobclass db load-postings --ingested-at "${INGESTED_AT:-2024-03-04T06:00:00Z}" >"$AIRFLOW_HOME/load-postings.log" 2>&1 ||
  { tail -20 "$AIRFLOW_HOME/load-postings.log"; exit 1; }
grep -ho "read [0-9]*, inserted [0-9]*, already present [0-9]*, rejected [0-9]*" "$AIRFLOW_HOME/load-postings.log" | tail -1 || true

echo "==> preparing Airflow's metadata database in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

# The URL and the login, as this AIRFLOW_HOME's configuration says; the simple auth manager's
# passwords are generated once into $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated.
read -r host port user password < <(python - <<'PY'
import contextlib, json, os, sys
from airflow.configuration import conf
from airflow.api_fastapi.app import create_auth_manager

manager = create_auth_manager()
users = [u.split(":")[0] for u in conf.getlist("core", "simple_auth_manager_users")] or ["admin"]
passwords = {}
if hasattr(manager, "get_generated_password_file"):
    path = manager.get_generated_password_file()
    if not os.path.exists(path):
        with contextlib.redirect_stdout(sys.stderr):
            manager.init()
    if os.path.exists(path):
        with open(path) as handle:
            passwords = json.load(handle)
if conf.getboolean("core", "simple_auth_manager_all_admins", fallback=False):
    users, passwords = ["(none: every visitor is admin)"], {}
host = conf.get("api", "host")
print("127.0.0.1" if host in ("0.0.0.0", "") else host, conf.get("api", "port"), users[0],
      passwords.get(users[0], "(see your auth manager)").replace(" ", "_"))
PY
)
cat <<BANNER
==> Airflow UI:  http://$host:$port
    login:       $user
    password:    $password   (from $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)
    The nightly on the demo postings: DAG jobclass_nightly_classify > Trigger > logical date
    2024-03-05T02:00:00Z (they were ingested at 2024-03-04T06:00Z, inside that run's data interval).
BANNER
[ "${1:-}" = "--config-only" ] && exit 0
echo "==> airflow standalone (Ctrl-C stops it; logs in $AIRFLOW_HOME/logs)"
exec airflow standalone
