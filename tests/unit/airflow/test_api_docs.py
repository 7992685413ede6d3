"""The API's schema is behind its login, and no page loads assets from a CDN (issue 18, 3b)."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from jobclass.airflow.api.app import create_app


def _login(request: Request) -> None:
    """A stand-in for Airflow's token check: any bearer header passes, none is a 401."""
    if not request.headers.get("authorization", "").startswith("Bearer "):
        raise HTTPException(401, "Not authenticated")


def test_the_schema_needs_a_login_and_there_is_no_cdn_backed_docs_page():
    client = TestClient(create_app(engine_factory=lambda: None, bundle_loader=lambda path: None, auth=_login))
    assert client.get("/openapi.json").status_code == 401
    schema = client.get("/openapi.json", headers={"Authorization": "Bearer x"})
    assert schema.status_code == 200 and "/predict" in schema.json()["paths"]
    for page in ("/docs", "/redoc"):
        assert client.get(page, headers={"Authorization": "Bearer x"}).status_code == 404
