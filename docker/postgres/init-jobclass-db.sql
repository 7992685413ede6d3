-- Runs once, when the postgres volume is first created (docker-entrypoint-initdb.d):
-- the jobclass database lives beside Airflow's metadata database on the same server.
-- Its tables are created by `jobclass db init` (airflow-init) or by the first DAG run.
CREATE DATABASE jobclass OWNER airflow;
