#!/usr/bin/env bash
# Scale-out smoke test: the nightly DAG on Airflow's CeleryExecutor, everything on loopback.
#
# Starts a real scheduler, dag-processor, API server and one Celery worker, with the local Redis
# as the broker (a dedicated Redis db number) and a throw-away PostgreSQL database as Airflow's
# metadata DB; the jobclass data go to a second throw-away PostgreSQL database, reached through
# the `jobclass_db` Connection (AIRFLOW_CONN_JOBCLASS_DB). It trains a tiny champion with the
# jobclass CLI, loads the vendored USAJOBS postings, triggers `jobclass_nightly_classify`, waits
# until the run succeeds, shows from the worker's log that the Celery worker ran the tasks, checks
# the plugin API (401 without a token, 200 with one) and stops everything it started.
#
#   scripts/celery_smoke.sh                 # from the repository root, after `pip install -r requirements.txt`
#
# Environment knobs: VENV (default .venv), PG_ADMIN_URL (default
# postgresql+psycopg://postgres@127.0.0.1:5432/test), REDIS_URL (default redis://127.0.0.1:6379/13),
# SMOKE_TIMEOUT_S (default 1500), SMOKE_CHUNK_SIZE (default 200), KEEP_SMOKE_DIR=1 keeps the logs,
# SMOKE_BUNDLE=<bundle dir> registers that model as champion instead of training a tiny one.
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/13}"
SMOKE_TIMEOUT_S="${SMOKE_TIMEOUT_S:-1500}"
CHUNK_SIZE="${SMOKE_CHUNK_SIZE:-200}"
DAG_ID=jobclass_nightly_classify
LOGICAL_DATE=2024-03-05T02:00:00+00:00
INGESTED_AT=2024-03-04T06:00:00Z   # inside the run's data interval [03-04 02:00, 03-05 02:00)

SUFFIX="$(date +%s)_$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/jobclass-celery-smoke.XXXXXX")"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
META_DB="airflow_smoke_$SUFFIX"
JC_DB="jobclass_smoke_$SUFFIX"
PG_BASE="${PG_ADMIN_URL%/*}"
PIDS=()
NAMES=()
T0=$(date +%s)

log() { printf '[smoke %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

pg() {  # run one statement on the admin database, in autocommit
  "$PY" - "$PG_ADMIN_URL" "$1" <<'EOF'
import sys, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(sa.text(sys.argv[2]))
engine.dispose()
EOF
}

redis_flush() {  # only our dedicated db number
  "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1]).flushdb()' "$REDIS_URL" || true
}

cleanup() {
  local rc=${1:-$?}
  trap - EXIT INT TERM
  log "stopping ${#PIDS[@]} processes"
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg "DROP DATABASE IF EXISTS \"$META_DB\" WITH (FORCE)" || true
  pg "DROP DATABASE IF EXISTS \"$JC_DB\" WITH (FORCE)" || true
  redis_flush
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc); last lines of each log:"
    for f in "$LOGS"/*.log; do echo "----- $f"; tail -n 40 "$f"; done
  fi
  if [ "${KEEP_SMOKE_DIR:-0}" = 1 ] || [ "$rc" != 0 ]; then
    log "logs kept in $LOGS"
  else
    rm -rf "$WORK"
  fi
  log "done (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'cleanup 130' INT
trap 'cleanup 143' TERM

check_alive() {  # fail fast when a started process died
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      log "${NAMES[$i]} (pid ${PIDS[$i]}) exited early"; exit 1
    fi
  done
}

start() {  # start NAME CMD...: in its own process group, output to $LOGS/NAME.log
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  log "started $name (pid $!): $*"
}

API_PORT="$(free_port)"
export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$PG_BASE/$META_DB"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="$PG_BASE/$META_DB"   # psycopg 3 is async too (no asyncpg needed)
export AIRFLOW__CELERY__BROKER_URL="$REDIS_URL"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$PG_BASE/$META_DB"
export AIRFLOW__CELERY__WORKER_CONCURRENCY=2
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False        # only the run we trigger
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API_AUTH__JWT_SECRET="$("$PY" -c 'import secrets; print(secrets.token_hex(48))')"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$WORK/passwords.json"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
export AIRFLOW_CONN_JOBCLASS_DB="${PG_BASE#*+psycopg}"      # postgresql://postgres@127.0.0.1:5432
export AIRFLOW_CONN_JOBCLASS_DB="postgresql${AIRFLOW_CONN_JOBCLASS_DB}/$JC_DB"
export JOBCLASS_HOME="$WORK/jobclass-home"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ADMIN_PASSWORD="smoke-$SUFFIX"
printf '{"admin": "%s"}\n' "$ADMIN_PASSWORD" >"$WORK/passwords.json"
JC_URL="$PG_BASE/$JC_DB"

log "work dir $WORK; metadata DB $META_DB, jobclass DB $JC_DB, broker $REDIS_URL, API port $API_PORT"
pg "CREATE DATABASE \"$META_DB\""
pg "CREATE DATABASE \"$JC_DB\""
redis_flush

log "airflow db migrate"
airflow db migrate >"$LOGS/db-migrate.log" 2>&1

log "jobclass: schema, demo postings (ingested at $INGESTED_AT), tiny champion model"
jobclass db init --database-url "$JC_URL" >"$LOGS/jobclass-cli.log" 2>&1
jobclass db load-postings --database-url "$JC_URL" --ingested-at "$INGESTED_AT" >>"$LOGS/jobclass-cli.log" 2>&1
T_TRAIN=$(date +%s)
if [ -n "${SMOKE_BUNDLE:-}" ]; then  # reuse a saved bundle instead of training one
  "$PY" - "$JC_URL" "$SMOKE_BUNDLE" <<'EOF'
import sys
from jobclass.model.bundle import read_metadata
from jobclass.store.engine import make_engine
from jobclass.store.registry import promote, register_model
engine = make_engine(sys.argv[1])
version = read_metadata(sys.argv[2])["version"]
register_model(engine, version, sys.argv[2], {}, None)
promote(engine, version, reason="celery smoke: SMOKE_BUNDLE")
print("champion", version)
EOF
  log "champion registered from SMOKE_BUNDLE=$SMOKE_BUNDLE"
else
  jobclass train --recipe tiny --promote always --database-url "$JC_URL" >>"$LOGS/jobclass-cli.log" 2>&1
  log "tiny champion trained in $(( $(date +%s) - T_TRAIN ))s"
fi

start api-server airflow api-server --port "$API_PORT"
start scheduler airflow scheduler
start dag-processor airflow dag-processor
start celery-worker airflow celery worker --concurrency 2 --queues default

log "waiting for the API server"
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$API_PORT/api/v2/monitor/health" >/dev/null 2>&1 && break
  check_alive
  sleep 2
done
curl -fsS "http://127.0.0.1:$API_PORT/api/v2/monitor/health" >/dev/null

TOKEN="$(curl -fsS -X POST "http://127.0.0.1:$API_PORT/auth/token" -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$ADMIN_PASSWORD\"}" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
api() { curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

log "waiting for the dag-processor to parse $DAG_ID"
for _ in $(seq 1 120); do
  api "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID" >/dev/null 2>&1 && break
  check_alive
  sleep 2
done
api "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID" >/dev/null
ERRORS="$(api "http://127.0.0.1:$API_PORT/api/v2/importErrors" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["total_entries"])')"
[ "$ERRORS" = 0 ] || { log "DAG import errors: $ERRORS"; exit 1; }

api -X PATCH "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID" -d '{"is_paused": false}' >/dev/null
RUN_ID="smoke__$SUFFIX"
T_RUN=$(date +%s)
api -X POST "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID/dagRuns" \
  -d "{\"dag_run_id\": \"$RUN_ID\", \"logical_date\": \"$LOGICAL_DATE\", \"conf\": {\"chunk_size\": $CHUNK_SIZE, \"bootstrap_if_no_champion\": false}}" >/dev/null
log "triggered $DAG_ID run $RUN_ID (logical date $LOGICAL_DATE, chunk_size $CHUNK_SIZE); waiting (timeout ${SMOKE_TIMEOUT_S}s)"

STATE=queued
while :; do
  STATE="$(api "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
  case "$STATE" in success|failed) break ;; esac
  if (( $(date +%s) - T_RUN > SMOKE_TIMEOUT_S )); then log "timed out in state $STATE"; exit 1; fi
  check_alive
  sleep 5
done
RUN_S=$(( $(date +%s) - T_RUN ))
log "run $RUN_ID finished: $STATE in ${RUN_S}s"

echo "---- task instances (from the API; executor: $AIRFLOW__CORE__EXECUTOR)"
api "http://127.0.0.1:$API_PORT/api/v2/dags/$DAG_ID/dagRuns/$RUN_ID/taskInstances?limit=100" >"$WORK/tis.json"
"$PY" - "$WORK/tis.json" <<'EOF'
import json, sys
tis = json.load(open(sys.argv[1]))["task_instances"]
for ti in sorted(tis, key=lambda t: (t.get("start_date") or "", t["task_id"], t["map_index"])):
    print(
        f"{ti['task_id']:<16} map={ti['map_index']:>3} {ti['state'] or '-':<8} queue={ti.get('queue')} "
        f"host={ti.get('hostname')} pid={ti.get('pid')} {ti.get('duration') or 0:.1f}s"
    )
EOF
[ "$STATE" = success ] || exit 1

echo "---- Celery worker log: the workloads it received and ran"
"$PY" - "$LOGS/celery-worker.log" "$WORK/tis.json" <<'EOF'
import json, re, sys, time
tis = json.load(open(sys.argv[2]))["task_instances"]
expected = {(t["task_id"], str(t["map_index"]) if t["map_index"] >= 0 else "") for t in tis if t["state"] == "success"}
for _ in range(30):  # Celery acknowledges a workload a moment after Airflow records the task's state
    log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    if log.count(" succeeded in ") >= len(expected):
        break
    time.sleep(1)
ran = re.findall(r"\[([0-9a-f-]{36})\] Executing workload in Celery: .*?task_id=([^/']+)(?:/map_index=(\d+))?/attempt=(\d+)", log)
done = set(re.findall(r"Task \S+\[([0-9a-f-]{36})\] succeeded in ([0-9.]+)s", log))
seconds = dict(done)
for celery_id, task_id, map_index, attempt in ran:
    status = f"succeeded in {float(seconds[celery_id]):.1f}s" if celery_id in seconds else "NOT finished"
    print(f"  celery task {celery_id[:8]}  {task_id}{f'[{map_index}]' if map_index else ''} attempt {attempt}: {status}")
by_worker = {(task_id, map_index) for celery_id, task_id, map_index, _ in ran if celery_id in seconds}
missing = expected - by_worker
print(f"{len(expected)} successful task instances; {len(by_worker & expected)} of them run by the Celery worker")
sys.exit(1 if missing or not expected else 0)
EOF

echo "---- scheduler log: task instances finished by the CeleryExecutor"
grep -o "TaskInstance Finished: .*task_id=[a-z_]*.*map_index=-\?[0-9]*.*state=[a-z]*.*executor=CeleryExecutor" "$LOGS/scheduler.log" \
  | sed -E 's/.*task_id=([a-z_]+), run_id=[^,]*, map_index=(-?[0-9]+).*state=([a-z]+), executor=(CeleryExecutor).*/  \1[\2] \3 via \4/' || true

echo "---- jobclass database"
"$PY" - "$JC_URL" <<'EOF'
import sys, sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    for row in conn.execute(sa.text("SELECT run_id, chunks, rows_read, rows_predicted, rows_rejected, status, duration_s FROM prediction_runs")):
        print(dict(row._mapping))
    print("predictions rows:", conn.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar_one())
    print("top occupations:")
    for code, title, n in conn.execute(sa.text(
            "SELECT onet_code, onet_title, COUNT(*) AS n FROM predictions WHERE rank = 1 "
            "GROUP BY onet_code, onet_title ORDER BY n DESC, onet_code LIMIT 5")):
        print(f"  {n:>4}  {code}  {title}")
    ok = conn.execute(sa.text("SELECT COUNT(*) FROM prediction_runs WHERE status = 'success' AND rows_read = rows_predicted + rows_rejected AND rows_read > 0")).scalar_one()
engine.dispose()
sys.exit(0 if ok == 1 else 1)
EOF
find "$JOBCLASS_HOME/predictions" -name '*.parquet' | sed "s#$JOBCLASS_HOME/##" | sort

echo "---- plugin API at /jobclass (auth on)"
ANON="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$API_PORT/jobclass/models")"
AUTHED="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT/jobclass/runs")"
PREDICT="$(api -X POST "http://127.0.0.1:$API_PORT/jobclass/predict" -d '{"title": "Registered Nurse", "top_k": 3}')"
log "GET /jobclass/models anonymous -> $ANON; GET /jobclass/runs with token -> $AUTHED"
echo "POST /jobclass/predict -> $PREDICT" | cut -c1-400
[ "$ANON" = 401 ] && [ "$AUTHED" = 200 ]

log "SMOKE OK: $DAG_ID succeeded on the CeleryExecutor in ${RUN_S}s (total $(( $(date +%s) - T0 ))s)"
