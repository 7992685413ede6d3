"""Static checks of docker-compose.yaml and the Dockerfile (there is no Docker engine in CI).

The file must parse, hold the services of the official Airflow 3 layout, mount only paths that
exist in the repository, and keep its environment consistent: one executor, broker and metadata
database for every Airflow service, and a jobclass Connection that points at a database the
postgres service creates. When a ``docker-compose`` (v1) or ``docker compose`` binary is on the
PATH, ``config`` validates the file against the Compose schema as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
REQUIRED_SERVICES = {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with no .env file: the default; ``$$`` is a literal ``$``."""
    value = re.sub(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}", lambda m: m.group(2), value)
    return value.replace("$$", "$")


def test_parses_and_has_the_official_services(compose):
    assert "x-airflow-common" in compose
    assert REQUIRED_SERVICES <= set(compose["services"])
    for name, command in AIRFLOW_SERVICES.items():
        service = compose["services"][name]
        assert service["command"] == command, name
        assert service.get("healthcheck"), f"{name} has no healthcheck"
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_every_airflow_service_shares_one_configuration(compose):
    services = compose["services"]
    envs = {name: _env(services[name]) for name in [*AIRFLOW_SERVICES, "airflow-init"]}
    keys = [
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW_CONN_JOBCLASS_DB",
        "JOBCLASS_HOME",
    ]
    for key in keys:
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), (key, values)
    env = envs["airflow-worker"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # Every image is built from the Dockerfile.
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        build = services[name]["build"]
        assert (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_urls_point_at_the_services(compose):
    services = compose["services"]
    env = {k: _interpolate(v) for k, v in _env(services["airflow-worker"]).items()}
    pg = {k: _interpolate(str(v)) for k, v in services["postgres"]["environment"].items()}

    meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert meta.hostname == "postgres" and meta.username == pg["POSTGRES_USER"]
    assert meta.password == pg["POSTGRES_PASSWORD"] and meta.path == f"/{pg['POSTGRES_DB']}"
    backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    assert backend.hostname == "postgres" and backend.path == meta.path

    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis"
    assert str(broker.port) in [str(p) for p in services["redis"].get("expose", [])]

    api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-apiserver" and api.path.rstrip("/") == "/execution"
    published = [str(p).split(":")[-1] for p in services["airflow-apiserver"]["ports"]]
    assert str(api.port) in published


def test_jobclass_connection_is_a_database_the_stack_creates(compose):
    from airflow.sdk import Connection  # the same parser Airflow uses for AIRFLOW_CONN_* URIs

    services = compose["services"]
    uri = _interpolate(_env(services["airflow-worker"])["AIRFLOW_CONN_JOBCLASS_DB"])
    conn = Connection.from_uri(uri, conn_id="jobclass_db")
    assert conn.conn_type == "postgres" and conn.host == "postgres"
    pg_env = {k: _interpolate(str(v)) for k, v in services["postgres"]["environment"].items()}
    assert conn.login == pg_env["POSTGRES_USER"] and conn.password == pg_env["POSTGRES_PASSWORD"]
    # The postgres service runs the init scripts that create that database.
    init_mounts = [v for v in services["postgres"]["volumes"] if ":/docker-entrypoint-initdb.d" in v]
    assert init_mounts, "the postgres service does not mount init scripts"
    init_dir = REPO / init_mounts[0].split(":")[0]
    sql = " ".join(p.read_text() for p in init_dir.glob("*.sql"))
    assert re.search(rf"CREATE DATABASE\s+{re.escape(conn.schema)}\b", sql, re.I)
    # The CLI in airflow-init writes to the same database as the Connection.
    init_env = {k: _interpolate(v) for k, v in _env(services["airflow-init"]).items()}
    cli = urlsplit(init_env["JOBCLASS_DATABASE_URL"])
    assert (cli.hostname, cli.path.strip("/"), cli.username) == (conn.host, conn.schema, conn.login)


def test_mounted_paths_exist_and_volumes_are_declared(compose):
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/", "$")):
                path = REPO / _interpolate(source)
                assert path.exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} uses volume {source!r}, not declared at the top level"
    common = compose["x-airflow-common"]
    targets = {v.split(":")[1] for v in common["volumes"]}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins"} <= targets
    # Bundles and predictions are shared by the workers and the API server.
    data_home = _env(compose["services"]["airflow-worker"])["JOBCLASS_HOME"]
    assert data_home in targets


def test_dependencies_exist(compose):
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert spec["condition"] in {"service_healthy", "service_started", "service_completed_successfully"}
            if spec["condition"] == "service_healthy":
                assert services[dep].get("healthcheck"), (
                    f"{name} waits for {dep} to be healthy, but it has no healthcheck"
                )


def test_every_variable_has_a_default():
    text = COMPOSE.read_text(encoding="utf-8")
    bare = [m.group(0) for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)]
    assert not bare, f"variables without a default make `docker compose up` depend on a .env file: {bare}"


def test_dockerfile_copies_paths_that_exist():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, re.M)
    copied = []
    for line in text.splitlines():
        if line.startswith("COPY"):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            copied += parts[:-1]
    assert {"requirements.txt", "pyproject.toml", "jobclass", "sql", "dags", "plugins"} <= set(copied)
    missing = [p for p in copied if not (REPO / p).exists()]
    assert not missing, f"the Dockerfile copies paths that are not in the repository: {missing}"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored


def test_compose_config_validates_when_a_binary_is_available(tmp_path):
    binary = shutil.which("docker-compose")
    command = [binary, "-f", str(COMPOSE), "config", "-q"] if binary else None
    if command is None and shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            command = ["docker", "compose", "-f", str(COMPOSE), "config", "-q"]
    if command is None:
        pytest.skip("no docker-compose binary on PATH (the static checks above still ran)")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
