"""The jobclass API plugin: FastAPI TestClient over a real registry and a real (tiny) model.

Covers the endpoints, bad input (never a 500), the request size limit, background loading and reloading
of the champion, and authentication through Airflow's auth manager, both on the app alone and
mounted by Airflow's own plugin loading in the API server.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import airflow_fixtures  # noqa: F401  (configures Airflow before it is imported)
import pytest
from airflow_fixtures import airflow_db  # noqa: F401  (fixture)
from fastapi.testclient import TestClient


@pytest.fixture
def engine(database_url):
    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    eng = make_engine(database_url)
    init_schema(eng)
    yield eng
    eng.dispose()


class CountingLoader:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, path: str):
        from jobclass.model.bundle import load_bundle

        self.paths.append(path)
        return load_bundle(path)


@pytest.fixture
def loader() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def client(engine, loader):
    from jobclass.airflow.api.app import create_app

    app = create_app(engine_factory=lambda: engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _champion(engine, bundle: Path, version: str) -> None:
    from jobclass.store.registry import promote, register_model

    register_model(engine, version, bundle, {"reported-titles": {"acc@1": 0.5}}, "hash-x")
    promote(engine, version, reason="test")


def _predict_when_warm(client: TestClient, payload: Any, timeout_s: float = 120.0, **kwargs: Any):
    """POST /predict until the champion is no longer warming (it loads in a background thread)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.post("/predict", json=payload, **kwargs)
        if response.status_code != 503 or "warming" not in response.json()["detail"] or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


# --------------------------------------------------------------------------- endpoints


def test_no_champion_is_a_clear_503(client):
    response = client.post("/predict", json={"title": "Registered Nurse"})
    assert response.status_code == 503
    assert "No champion model" in response.json()["detail"]
    assert client.get("/models").json() == {"models": []}
    assert client.get("/runs").json() == {"runs": []}


def test_predict_models_runs_and_reload(client, engine, loader, tiny_bundle_path, tmp_path):
    _champion(engine, tiny_bundle_path, "v1")
    response = _predict_when_warm(client, {"title": "Registered Nurse", "body": "Provide patient care.", "top_k": 3})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model_version"] == "v1"
    ranked = payload["predictions"]
    assert [p["rank"] for p in ranked] == [1, 2, 3]
    assert all(len(p["code"]) == 10 and p["title"] for p in ranked)
    assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]

    # Cached: a second prediction does not reload the bundle.
    assert client.post("/predict", json={"title": "Welder"}).status_code == 200
    assert len(loader.paths) == 1

    # A new champion is picked up (warmed in the background while v1 answers, then served).
    copy = tmp_path / "v2"
    shutil.copytree(tiny_bundle_path, copy)
    _champion(engine, copy, "v2")
    deadline = time.monotonic() + 120
    while (response := client.post("/predict", json={"title": "Welder", "top_k": 1})).json().get("model_version") != "v2":
        assert response.status_code == 200 and response.json()["model_version"] == "v1", response.text
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(response.json()["predictions"]) == 1
    assert len(loader.paths) == 2 and loader.paths[-1].endswith("v2")

    models = client.get("/models").json()["models"]
    assert [(m["version"], m["status"]) for m in models] == [("v2", "champion"), ("v1", "retired")]  # newest first
    assert models[0]["metrics"] == {"reported-titles": {"acc@1": 0.5}}

    from jobclass.pipeline.interval import start_run

    start_run(engine, "2024-01-01T02:00:00Z", "2024-01-02T02:00:00Z", "v2", 0)
    runs = client.get("/runs", params={"limit": 5}).json()["runs"]
    assert len(runs) == 1 and runs[0]["model_version"] == "v2" and runs[0]["status"] == "running"


def test_unloadable_champion_is_a_503_not_a_500(client, engine, tiny_bundle_path, tmp_path):
    copy = tmp_path / "broken"
    shutil.copytree(tiny_bundle_path, copy)
    _champion(engine, copy, "broken")
    (copy / "heads.safetensors").write_bytes(b"corrupted after promotion")
    response = _predict_when_warm(client, {"title": "Welder"})
    assert response.status_code == 503
    assert "could not be loaded" in response.json()["detail"] and response.json()["error_id"]


# --------------------------------------------------------------------------- bad input

BAD_JSON_BODIES = [
    ({}, 422, "both empty"),
    ({"title": "", "body": "   "}, 422, "both empty"),
    ({"title": "Nurse", "top_k": 0}, 422, "greater than or equal to 1"),
    ({"title": "Nurse", "top_k": 21}, 422, "less than or equal to 20"),
    ({"title": "Nurse", "top_k": "five"}, 422, "valid integer"),
    ({"title": "Nurse", "top_k": 2.5}, 422, "integer"),
    ({"title": "x" * 501}, 422, "at most 500 characters"),
    ({"title": "Nurse", "body": "y" * 100_001}, 422, "limit is 100,000 bytes"),
    ({"title": "Nurse", "body": "é" * 50_001}, 422, "limit is 100,000 bytes"),
    ({"title": ["Nurse"]}, 422, "valid string"),
    ({"title": None}, 422, "valid string"),
    ({"title": "Nurse", "unexpected": 1}, 422, "Extra inputs"),
    ([{"title": "Nurse"}], 422, "valid dictionary"),
    ("Nurse", 422, "valid dictionary"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_JSON_BODIES, ids=[m for _, _, m in BAD_JSON_BODIES])
def test_bad_input_is_a_clear_4xx(client, body, status, message):
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.text
    assert message in json.dumps(response.json())


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b'{"title": "\xff\xfe broken utf-8"}', {"content-type": "application/json"}),
        (b"", {"content-type": "application/json"}),
        (b"title=Nurse", {"content-type": "application/x-www-form-urlencoded"}),
        (b'{"title": "Nurse"', {"content-type": "application/json"}),
    ],
    ids=["not-json", "invalid-utf8", "empty", "form", "truncated"],
)
def test_malformed_bodies_never_500(client, content, headers):
    response = client.post("/predict", content=content, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["detail"]


def test_oversized_request_is_413_before_parsing(client):
    from jobclass.airflow.api.limits import MAX_REQUEST_BYTES

    big = json.dumps({"title": "Nurse", "body": "z" * MAX_REQUEST_BYTES}).encode()
    response = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(10):
            yield b"a" * (MAX_REQUEST_BYTES // 4)

    response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=501", "limit=abc", "offset=-1"])
def test_bad_query_parameters(client, query):
    assert client.get(f"/runs?{query}").status_code == 422


def test_unknown_route_and_method(client):
    assert client.get("/predict").status_code == 405
    assert client.get("/nope").status_code == 404


def test_database_down_is_a_503(loader):
    from jobclass.airflow.api.app import create_app

    def broken_engine():
        raise ConnectionError("database is down")

    app = create_app(engine_factory=broken_engine, bundle_loader=loader, auth=None)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.post("/predict", json={"title": "Nurse"})
    assert response.status_code == 503
    assert "database unavailable" in response.json()["detail"] and response.json()["error_id"]


# --------------------------------------------------------------------------- authentication


@pytest.fixture(scope="module")
def auth_manager(airflow_db):  # noqa: F811
    from airflow.api_fastapi.app import create_auth_manager

    manager = create_auth_manager()
    manager.init()
    return manager


def _token(auth_manager, username: str, role: str | None) -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture
def secured_client(auth_manager, engine, loader):
    from jobclass.airflow.api.app import create_app

    app = create_app(engine_factory=lambda: engine, bundle_loader=loader)  # auth="airflow", the default
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_anonymous_callers_are_refused(secured_client):
    for method, path in [("get", "/models"), ("get", "/runs"), ("get", "/health"), ("post", "/predict")]:
        response = getattr(secured_client, method)(path, **({"json": {"title": "Nurse"}} if method == "post" else {}))
        assert response.status_code == 401, (path, response.text)
    garbage = {"Authorization": "Bearer not-a-jwt"}
    assert secured_client.get("/models", headers=garbage).status_code == 403
    assert secured_client.get("/models", cookies={"_token": "not-a-jwt"}).status_code == 403


def test_users_need_a_role(secured_client, auth_manager):
    no_role = {"Authorization": f"Bearer {_token(auth_manager, 'nobody', None)}"}
    assert secured_client.get("/models", headers=no_role).status_code == 403


def test_viewer_token_is_accepted(secured_client, auth_manager, engine, tiny_bundle_path):
    headers = {"Authorization": f"Bearer {_token(auth_manager, 'viewer', 'viewer')}"}
    assert secured_client.get("/models", headers=headers).status_code == 200
    _champion(engine, tiny_bundle_path, "v1")
    response = _predict_when_warm(secured_client, {"title": "Registered Nurse"}, headers=headers)
    assert response.status_code == 200, response.text
    # The UI's cookie works too.
    secured_client.cookies.set("_token", _token(auth_manager, "viewer", "viewer"))
    assert secured_client.get("/runs").status_code == 200


def test_oversized_request_refused_before_auth(secured_client):
    from jobclass.airflow.api.limits import MAX_REQUEST_BYTES

    response = secured_client.post(
        "/predict", content=b"x" * (MAX_REQUEST_BYTES + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_mounted_in_the_airflow_api_server(
    airflow_db,  # noqa: F811
    auth_manager,
    monkeypatch,
    tmp_path,
    tiny_bundle_path,
):
    """Airflow's own plugin loading mounts the app at /jobclass, it is not open to anonymous callers, and
    the API server runs the app's lifespan: the champion is warmed at start, before any request.

    One test, because Airflow loads the plugin (and so its app and database engine) once per process.
    """
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from airflow.api_fastapi.app import purge_cached_app

    from jobclass.store.engine import make_engine
    from jobclass.store.schema import init_schema

    url = f"sqlite:///{tmp_path / 'jobclass.db'}"
    monkeypatch.setenv("JOBCLASS_DATABASE_URL", url)
    engine = make_engine(url)
    init_schema(engine)
    _champion(engine, tiny_bundle_path, "v1")
    engine.dispose()
    app = create_airflow_app()
    jobclass_app = next(route.app for route in app.routes if getattr(route, "path", None) == "/jobclass")
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            deadline = time.monotonic() + 120
            while jobclass_app.state.warmer.ready_version != "v1":  # no request made yet: warmed at start
                assert time.monotonic() < deadline, "the champion was not warmed at start"
                time.sleep(0.05)
            assert c.get("/jobclass/health").status_code == 401
            assert c.get("/jobclass/models").status_code == 401
            headers = {"Authorization": f"Bearer {_token(auth_manager, 'viewer', 'viewer')}"}
            response = c.get("/jobclass/models", headers=headers)
            assert response.status_code == 200, response.text
            assert [m["version"] for m in response.json()["models"]] == ["v1"]
            response = c.post("/jobclass/predict", json={"title": "Welder"}, headers=headers)
            assert response.status_code == 200, response.text
    finally:
        purge_cached_app()


def test_registered_once_by_the_entry_point_with_the_plugins_folder_present(airflow_db):  # noqa: F811
    """The installed package's ``airflow.plugins`` entry point registers the plugin; the repository's
    ``plugins/`` (Airflow's plugins folder here, loaded first) adds no second copy, which Airflow would
    skip and report as an import error."""
    from importlib.metadata import entry_points

    from airflow import plugins_manager
    from airflow._shared.plugins_manager import EntryPointSource
    from airflow.configuration import conf

    from jobclass.airflow.plugin import JobclassApiPlugin

    (entry_point,) = entry_points(group="airflow.plugins", name="jobclass_api")
    assert entry_point.load() is JobclassApiPlugin
    assert Path(conf.get("core", "plugins_folder")) == Path(__file__).resolve().parents[2] / "plugins"

    plugins, errors = plugins_manager._get_plugins()
    (plugin,) = [p for p in plugins if p.name == "jobclass_api"]
    assert isinstance(plugin, JobclassApiPlugin) and isinstance(plugin.source, EntryPointSource)
    assert errors == {}
    (info,) = [p for p in plugins_manager.get_plugin_info() if p["name"] == "jobclass_api"]  # `airflow plugins`
    assert [app["url_prefix"] for app in info["fastapi_apps"]] == ["/jobclass"]


def test_connection_url_conversion_matches_the_dags(monkeypatch):
    """One path for the DAG tasks and the plugin: ``Connection.get`` -> ``url_from_connection``."""
    from airflow.sdk import Connection

    from jobclass.airflow.connection import CONN_ID, database_url
    from jobclass.store.engine import url_from_connection

    cases = [
        Connection.from_uri("postgresql://jc:s%40cret@db.example:5433/jobclass?sslmode=require", conn_id=CONN_ID),
        Connection.from_uri("postgres://postgres@127.0.0.1/jobclass", conn_id=CONN_ID),
        Connection(conn_id=CONN_ID, conn_type="sqlite", host="/tmp/x/jobclass.db"),
        Connection(conn_id=CONN_ID, conn_type="postgres", extra=json.dumps({"sqlalchemy_url": "sqlite:////tmp/y.db"})),
    ]
    expected = [
        "postgresql+psycopg://jc:s%40cret@db.example:5433/jobclass?sslmode=require",
        "postgresql+psycopg://postgres@127.0.0.1/jobclass",
        "sqlite:////tmp/x/jobclass.db",
        "sqlite:////tmp/y.db",
    ]
    for conn, want in zip(cases, expected, strict=True):
        assert url_from_connection(conn) == want
        monkeypatch.setenv("AIRFLOW_CONN_JOBCLASS_DB", conn.as_json())  # what the plugin and the tasks read
        assert database_url() == want
    with pytest.raises(ValueError, match="supports postgres and sqlite"):
        url_from_connection(Connection(conn_id=CONN_ID, conn_type="mysql", host="h"))
    monkeypatch.delenv("AIRFLOW_CONN_JOBCLASS_DB")
    monkeypatch.setenv("JOBCLASS_DATABASE_URL", "sqlite:////tmp/z.db")
    assert database_url() == "sqlite:////tmp/z.db"  # no Connection: the default


@pytest.mark.parametrize(
    "content",
    [
        b'{"title": "Nurse", "top_k": NaN}',
        b'{"title": "Nurse", "top_k": 1e999}',
        b'{"title": "Nurse", "top_k": -Infinity}',
    ],
    ids=["nan", "infinite", "minus-infinite"],
)
def test_non_finite_numbers_are_a_422(client, content):
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "top_k"]


def test_validation_errors_are_capped_and_do_not_echo_big_inputs(client):
    many = {f"k{i}": i for i in range(500)}
    response = client.post("/predict", json={"title": "Nurse", **many})
    detail = response.json()["detail"]
    assert response.status_code == 422 and len(detail) == 21 and detail[-1]["type"] == "too_many_errors"
    response = client.post("/predict", json={"title": "t" * 5000})
    assert response.status_code == 422 and "t" * 200 not in response.text
