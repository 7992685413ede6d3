"""Static checks of docker-compose.yaml and the Dockerfile (there is no Docker engine in CI).

The file must parse, hold the services of the official Airflow 3 layout, mount only paths that
exist in the repository, and keep its environment consistent: one executor, broker and metadata
database for every Airflow service, and a jobclass Connection that points at a database the
postgres service creates. When a ``docker-compose`` (v1) or ``docker compose`` binary is on the
PATH, ``config`` validates the file against the Compose schema as well.

Deployment secrets (issue 16, item 7): no secret has a default, a missing one stops compose with
its name and how to generate it, the API server listens on loopback unless JOBCLASS_BIND says
otherwise, the dev logins are an explicit opt-in of docker/make_env.py, ``.env`` stays out of git
and of the image, and the Dockerfile keeps no package index URL in the image.

The jobclass database (issue 29): jobclass connects to it as a role of its own, never as the
PostgreSQL superuser; the role is made by docker/postgres/jobclass-db.psql, which is also run against
the local PostgreSQL (when it answers) in a throw-away database, to check that the role can run
``jobclass db init`` and the nightly's writes and nothing a superuser could.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
MAKE_ENV = REPO / "docker" / "make_env.py"
ENV_EXAMPLE = REPO / ".env.example"
# What compose must refuse to start without, and the environment key each one fills.
SECRETS = {
    "AIRFLOW_JWT_SECRET": "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY": "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW_FERNET_KEY": "AIRFLOW__CORE__FERNET_KEY",
    "POSTGRES_PASSWORD": "POSTGRES_PASSWORD",
    "JOBCLASS_DB_PASSWORD": "JOBCLASS_DB_PASSWORD",
    "_AIRFLOW_WWW_USER_PASSWORD": "_AIRFLOW_WWW_USER_PASSWORD",
}

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


def _load_make_env():
    spec = importlib.util.spec_from_file_location("jobclass_make_env", MAKE_ENV)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A .env as docker/make_env.py writes it: what the interpolated tests below run with.
SAMPLE_ENV = _load_make_env().environment()
REFERENCE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\})")


class MissingVariable(Exception):
    """Compose's error for ``${VAR:?message}`` with VAR unset or empty."""


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's interpolation of ``value`` with the variables ``env`` (SAMPLE_ENV by default).

    ``${VAR}``, ``${VAR:-default}``/``${VAR-default}``, ``${VAR:?message}``/``${VAR?message}``
    (which raise :class:`MissingVariable` with the message), ``${VAR:+alt}``, and ``$$`` for a
    literal ``$``. With a colon, an empty value counts as unset, as in compose.
    """
    env = SAMPLE_ENV if env is None else env

    def substitute(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-"):
            return arg if unset else value
        if op in (":+", "+"):
            return "" if unset else arg
        return value or ""

    return REFERENCE.sub(substitute, value)


def _interpolate_all(node, env: dict[str, str] | None = None):
    """The whole parsed compose file, interpolated (keys are not, as in compose)."""
    if isinstance(node, dict):
        return {k: _interpolate_all(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_all(v, env) for v in node]
    return _interpolate(node, env) if isinstance(node, str) else node


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


INIT_DIR = REPO / "docker" / "postgres"
ROLE_SQL = INIT_DIR / "jobclass-db.psql"


def _init_script_variables(compose: dict) -> dict[str, str]:
    """The psql variables the postgres service's init script passes to jobclass-db.psql."""
    services = compose["services"]
    init_mounts = [v for v in services["postgres"]["volumes"] if ":/docker-entrypoint-initdb.d" in v]
    assert init_mounts, "the postgres service does not mount init scripts"
    init_dir = REPO / init_mounts[0].split(":")[0]
    assert init_dir.resolve() == INIT_DIR.resolve()
    scripts = sorted(p.name for p in init_dir.iterdir() if p.suffix in (".sh", ".sql", ".gz", ".xz", ".zst"))
    assert scripts == ["init-jobclass-db.sh"], "the entrypoint runs *.sh and *.sql: only the wrapper may be one"
    wrapper = (init_dir / "init-jobclass-db.sh").read_text(encoding="utf-8")
    assert "-f /docker-entrypoint-initdb.d/jobclass-db.psql" in wrapper and "ON_ERROR_STOP=1" in wrapper
    assert os.access(init_dir / "init-jobclass-db.sh", os.X_OK), "executed, not sourced, by the entrypoint"
    return dict(re.findall(r"-v (\w+)=(\S+)", wrapper))


def test_jobclass_connection_is_a_database_the_stack_creates(compose):
    from airflow.sdk import Connection  # the same parser Airflow uses for AIRFLOW_CONN_* URIs

    services = compose["services"]
    uri = _interpolate(_env(services["airflow-worker"])["AIRFLOW_CONN_JOBCLASS_DB"])
    conn = Connection.from_uri(uri, conn_id="jobclass_db")
    assert conn.conn_type == "postgres" and conn.host == "postgres"
    pg_env = {k: _interpolate(str(v)) for k, v in services["postgres"]["environment"].items()}
    # A role of its own, with a password of its own: not the superuser the image creates.
    assert conn.login != pg_env["POSTGRES_USER"] and conn.password != pg_env["POSTGRES_PASSWORD"]
    assert conn.password == pg_env["JOBCLASS_DB_PASSWORD"] == SAMPLE_ENV["JOBCLASS_DB_PASSWORD"]
    # The postgres service's init script creates that role and that database.
    variables = _init_script_variables(compose)
    assert (variables["jobclass_role"], variables["jobclass_db"]) == (conn.login, conn.schema)
    assert variables["jobclass_password"] == '"$JOBCLASS_DB_PASSWORD"'
    sql = ROLE_SQL.read_text(encoding="utf-8")
    assert "CREATE ROLE" in sql and "CREATE DATABASE" in sql
    granted = re.search(r"ALTER ROLE :\"jobclass_role\" WITH ([^;]*);", sql)
    assert granted and {"LOGIN", "NOSUPERUSER", "NOCREATEDB", "NOCREATEROLE"} <= set(granted.group(1).split())
    # The CLI in airflow-init writes to the same database as the Connection, as the same role.
    init_env = {k: _interpolate(v) for k, v in _env(services["airflow-init"]).items()}
    cli = urlsplit(init_env["JOBCLASS_DATABASE_URL"])
    assert (cli.hostname, cli.path.strip("/"), cli.username, cli.password) == (
        conn.host, conn.schema, conn.login, conn.password
    )


def test_nothing_connects_to_the_jobclass_database_as_the_superuser(compose):
    services = _interpolate_all(compose)["services"]
    superuser = services["postgres"]["environment"]["POSTGRES_USER"]
    jobclass_urls = 0
    for name, service in services.items():
        for key, value in _env(service).items():
            if value.startswith(("postgresql://", "postgresql+", "postgres://", "db+postgresql://")):
                url = urlsplit(value.removeprefix("db+"))
                if url.path.strip("/") == "jobclass":
                    jobclass_urls += 1
                    assert url.username != superuser, f"{name} {key} connects to jobclass as the superuser"
                else:
                    assert url.path.strip("/") == services["postgres"]["environment"]["POSTGRES_DB"], (name, key)
    assert jobclass_urls >= len(AIRFLOW_SERVICES) + 2  # the Connection in every Airflow service, the CLI in init


def _psql(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.postgres
def test_the_role_can_init_the_schema_and_write_a_nightly_but_nothing_more(compose, tmp_path):
    """jobclass-db.psql on the local PostgreSQL, with throw-away names (twice: it is re-runnable),
    then as the role: ``jobclass db init``, a nightly's writes, and what it must not do."""
    import uuid

    import sqlalchemy as sa
    from conftest import POSTGRES_ADMIN_URL, POSTGRES_UP

    if not POSTGRES_UP or shutil.which("psql") is None:
        pytest.skip("needs the local PostgreSQL and psql")
    admin_url = sa.make_url(POSTGRES_ADMIN_URL)
    server = f"postgresql://{admin_url.username}@{admin_url.host}:{admin_url.port or 5432}"
    suffix = uuid.uuid4().hex[:10]
    role, database, metadata = f"jc_role_{suffix}", f"jc_db_{suffix}", f"jc_meta_{suffix}"
    assert _psql("-c", f'CREATE DATABASE "{metadata}"', url=f"{server}/postgres").returncode == 0
    variables = {"jobclass_role": role, "jobclass_db": database, "jobclass_password": "pw-" + suffix,
                 "metadata_db": metadata}
    try:
        for _ in range(2):
            args = [a for k, v in variables.items() for a in ("-v", f"{k}={v}")]
            ran = _psql(*args, "-f", str(ROLE_SQL), url=f"{server}/postgres")
            assert ran.returncode == 0, ran.stderr
        as_role = f"postgresql+psycopg://{role}:pw-{suffix}@{admin_url.host}:{admin_url.port or 5432}/{database}"
        env = {**os.environ, "JOBCLASS_DATABASE_URL": as_role, "JOBCLASS_HOME": str(tmp_path)}
        init = subprocess.run([sys.executable, "-m", "jobclass", "db", "init"], env=env, capture_output=True,
                              text=True, check=False, timeout=300)
        assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]

        from run_report_fixtures import night_run

        from jobclass.store.engine import make_engine
        from jobclass.store.registry import list_models, register_model
        from jobclass.store.run_stats import get_run

        engine = make_engine(as_role)
        try:
            register_model(engine, "m1", str(tmp_path), {}, None)  # the retrain's write (promote checks a bundle)
            run_id = night_run(engine, 0, [("a", "15-1252.00", 0.9, False)], rejects=[("b", "empty_text")])
            night_run(engine, 0, [("a", "15-1252.00", 0.8, True)], rejects=[("b", "empty_text")])  # a re-run
            assert [m.version for m in list_models(engine)] == ["m1"] and get_run(engine, run_id)["status"] == "success"
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT COUNT(*) FROM predictions")).scalar() == 2  # replaced
                assert conn.execute(sa.text("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                                            "WHERE rolname = current_user")).scalar() is False
                owners = conn.execute(sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"))
                assert set(owners.scalars()) == {role}
            for statement in (f'CREATE DATABASE "{database}_x"', f'CREATE ROLE "{role}_x"', "CREATE SCHEMA other"):
                with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(statement))
        finally:
            engine.dispose()
        other = sa.create_engine(as_role.rsplit("/", 1)[0] + f"/{metadata}")
        with pytest.raises(sa.exc.OperationalError, match="permission denied"):  # Airflow's database is Airflow's
            other.connect().close()
        other.dispose()
    finally:
        drop = [f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'DROP DATABASE IF EXISTS "{metadata}" WITH (FORCE)',
                f'DROP ROLE IF EXISTS "{role}"']
        for statement in drop:
            _psql("-c", statement, url=f"{server}/postgres")


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
    # The plugin only registers the app: its code (and the DAGs' glue) is the package, mounted over the
    # image's editable install, so a change to jobclass/airflow/ is seen like a change to dags/.
    assert "/opt/jobclass/jobclass" in targets
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


def test_secrets_are_required_and_every_other_variable_has_a_default():
    """Only secrets are required (``${VAR:?...}``), at every use, with a message that names the
    variable and how to generate it; every other variable has a default; nothing is bare."""
    text = COMPOSE.read_text(encoding="utf-8")
    references = [m for m in REFERENCE.finditer(text) if m.group(0) != "$$"]
    assert references
    for m in references:
        name, op, message = m.group(1), m.group(2), m.group(3)
        assert op is not None, f"{m.group(0)}: a bare variable is silently empty when unset"
        if name in SECRETS:
            assert op == ":?", f"{m.group(0)}: a secret must never have a default"
            assert name in message and "python -c" in message, f"{name}: the message must say how to generate it"
            generator = "Fernet.generate_key()" if name == "AIRFLOW_FERNET_KEY" else "secrets.token_urlsafe(32)"
            assert generator in message, (name, message)
        else:
            assert op == ":-", f"{m.group(0)}: only the secrets {sorted(SECRETS)} may be required"
    assert {m.group(1) for m in references} >= set(SECRETS)


def test_compose_stops_without_each_secret_and_names_it(compose):
    _interpolate_all(compose)  # with every secret set, the file interpolates
    for name in SECRETS:
        for env in ({k: v for k, v in SAMPLE_ENV.items() if k != name}, {**SAMPLE_ENV, name: ""}):
            with pytest.raises(MissingVariable, match=rf"\b{name}\b.*python -c"):
                _interpolate_all(compose, env)


def test_secrets_reach_the_services_verbatim(compose):
    """Each secret key holds exactly its variable (no literal prefix), the same on every service,
    and every database URL carries POSTGRES_PASSWORD or JOBCLASS_DB_PASSWORD, never a literal password."""
    services = _interpolate_all(compose)["services"]
    seen = {name: 0 for name in SECRETS}
    for service_name, service in services.items():
        for key, value in _env(service).items():
            for name, secret_key in SECRETS.items():
                if key == secret_key:
                    assert value == SAMPLE_ENV[name], (service_name, key)
                    seen[name] += 1
            if "://" in value and key != "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                password = urlsplit(value.removeprefix("db+")).password
                passwords = (SAMPLE_ENV["POSTGRES_PASSWORD"], SAMPLE_ENV["JOBCLASS_DB_PASSWORD"], "")
                assert password in passwords, f"{service_name} {key}: a literal password"
    assert all(seen.values()), f"secrets no service receives: {seen}"
    airflow = [name for name in services if name.startswith("airflow-")]
    assert all(
        _env(services[name])["AIRFLOW__API_AUTH__JWT_SECRET"] == SAMPLE_ENV["AIRFLOW_JWT_SECRET"] for name in airflow
    ), "the API server and the workers must sign and check tokens with one JWT secret"


def test_published_ports_bind_to_loopback_unless_opted_in(compose):
    for env, host in ((SAMPLE_ENV, "127.0.0.1"), ({**SAMPLE_ENV, "JOBCLASS_BIND": "0.0.0.0"}, "0.0.0.0")):
        services = _interpolate_all(compose, env)["services"]
        published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
        assert set(published) == {"airflow-apiserver"}, "only the API server is published"
        for name, ports in published.items():
            for port in ports:
                ip, _host_port, _container_port = str(port).rsplit(":", 2)
                assert ip == host, f"{name} publishes {port}"


def test_env_example_documents_every_secret_and_holds_none(compose):
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    assert set(SECRETS) <= set(values), "every required variable is in .env.example"
    assert all(values[name] == "" for name in SECRETS), ".env.example must hold no secret"
    with pytest.raises(MissingVariable):  # copied as it is, compose still refuses to start
        _interpolate_all(compose, values)
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "secrets.token_urlsafe(32)" in text and "Fernet.generate_key()" in text


def test_make_env_writes_fresh_secrets_and_dev_logins_only_on_request(tmp_path, compose):
    from cryptography.fernet import Fernet

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(MAKE_ENV), *args], capture_output=True, text=True, check=False)

    def read(path: Path) -> dict[str, str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    target = tmp_path / ".env"
    assert run("--output", str(target)).returncode == 0
    env = read(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600, "secrets readable by their owner only"
    assert set(SECRETS) <= set(env)
    _interpolate_all(compose, env)  # compose starts with it
    Fernet(env["AIRFLOW_FERNET_KEY"].encode())  # a valid Fernet key
    secrets = [env[name] for name in SECRETS if name != "AIRFLOW_FERNET_KEY"]
    assert len(set(secrets)) == len(secrets) and all(len(s) >= 32 for s in secrets)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", env["POSTGRES_PASSWORD"]), "URL-safe: it sits inside database URLs"
    assert env["_AIRFLOW_WWW_USER_PASSWORD"] != "airflow", "no default login without the opt-in"

    refused = run("--output", str(target), "--dev-logins")
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert read(target) == env, "an existing .env (its Fernet key, its database password) is never replaced"

    assert run("--output", str(target), "--dev-logins", "--force").returncode == 0
    dev = read(target)
    assert (dev["_AIRFLOW_WWW_USER_USERNAME"], dev["_AIRFLOW_WWW_USER_PASSWORD"]) == ("airflow", "airflow")
    assert "DEVELOPMENT LOGINS" in target.read_text(encoding="utf-8")
    assert all(dev[name] != env[name] for name in SECRETS if name != "_AIRFLOW_WWW_USER_PASSWORD")


def test_env_files_stay_out_of_git_and_out_of_the_image():
    assert ".env" in (REPO / ".dockerignore").read_text().split(), "the build context must not carry .env"
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False).returncode == 0

    assert ignored(".env") and ignored(".env.production")
    assert not ignored(".env.example")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def test_dockerfile_keeps_no_package_index_url_in_the_image():
    """ENV persists in the image and ARG values show in ``docker history``: a private index URL
    (which may carry a token) must come in as a BuildKit secret, seen by the install step only."""
    instructions = _dockerfile_instructions()
    sensitive = re.compile(r"^PIP_|INDEX_URL|(^|_)(TOKEN|SECRET|PASSWORD)(_|$)")
    for kind, args in instructions:
        if kind == "ENV":
            pairs = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)", args)
            assert pairs, args
            for name, value in pairs:
                assert not sensitive.search(name) and "://" not in value, f"ENV {name}: persisted in the image"
        if kind == "ARG":  # public settings only, such as the CPU torch wheel index
            name, _, default = args.partition("=")
            assert not re.search(r"^PIP_|(^|_)(TOKEN|SECRET|PASSWORD)(_|$)", name), f"ARG {name}: in docker history"
            assert "@" not in urlsplit(default).netloc, f"ARG {name}: credentials in a default"
    installs = [args for kind, args in instructions if kind == "RUN" and "-r /opt/jobclass/requirements.txt" in args]
    assert len(installs) == 1
    assert "--mount=type=secret,id=pip_index_url,env=PIP_INDEX_URL" in installs[0]
    # RUN --mount=type=secret,env= needs Dockerfile syntax 1.10 or later.
    first = DOCKERFILE.read_text(encoding="utf-8").splitlines()[0]
    syntax = re.fullmatch(r"# syntax=docker/dockerfile:1\.(\d+)", first)
    assert syntax and int(syntax.group(1)) >= 10, first


def test_dockerfile_copies_paths_that_exist():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", text, re.MULTILINE)
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
    """With a .env from docker/make_env.py the file validates; with an empty one compose refuses
    and names a missing secret and how to generate it."""
    binary = shutil.which("docker-compose")
    command = [binary] if binary else None
    if command is None and shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            command = ["docker", "compose"]
    if command is None:
        pytest.skip("no docker-compose binary on PATH (the static checks above still ran)")
    environ = {k: v for k, v in os.environ.items() if k not in SAMPLE_ENV and k != "JOBCLASS_BIND"}

    def config(env_file: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
            capture_output=True, text=True, cwd=REPO, env=environ, check=False,
        )

    _load_make_env().write_env(tmp_path / "generated.env")
    result = config(tmp_path / "generated.env")
    assert result.returncode == 0, result.stderr
    (tmp_path / "empty.env").write_text("")
    refused = config(tmp_path / "empty.env")
    assert refused.returncode != 0
    assert any(name in refused.stderr for name in SECRETS) and "python -c" in refused.stderr, refused.stderr
