"""Authentication through Airflow: its JWT, its auth manager.

Airflow 3 mounts a plugin's FastAPI app as a sub-application of the API server
(``app.mount(url_prefix, subapp)`` in ``airflow.api_fastapi.app.init_plugins``). Its routes get
none of the core API's security dependencies: a plugin app is open to anonymous callers unless it
adds its own. This app adds, to every route, :func:`require_airflow_user`: Airflow's own
``get_user`` (``airflow.api_fastapi.core_api.security``) validates the Airflow JWT from the
``Authorization: Bearer`` header or the UI's ``_token`` cookie with the configured auth manager
(401 without a token, 403 for an invalid one), then the auth manager is asked
``is_authorized_custom_view(resource_name="jobclass")`` (403 if refused). With the simple auth
manager a user needs at least the Viewer role. When ``[core] simple_auth_manager_all_admins`` is
on, Airflow itself treats every caller as admin, so this API is open exactly like the UI is.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from jobclass.airflow.dag_ids import NIGHTLY_DAG_ID

RESOURCE_NAME = "jobclass"

_bearer_scheme = HTTPBearer(auto_error=False, description="An Airflow API token (POST /auth/token).")


async def require_airflow_user(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer_scheme),
) -> Any:
    """Authenticate with Airflow's own ``get_user`` and authorize with the configured auth manager.

    Airflow is imported here, at request time, so loading the plugin stays light in every
    Airflow process (the scheduler and workers load plugins too).
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    user = await get_user(request, None, bearer)  # 401 without a token, 403 for an invalid one
    method = "GET" if request.method in ("GET", "HEAD", "OPTIONS") else "POST"
    if not get_auth_manager().is_authorized_custom_view(method=method, resource_name=RESOURCE_NAME, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: this user may not use the jobclass API")
    request.state.jobclass_user = user  # for the routes that ask more of the user (the review page)
    return user


# --------------------------------------------------------------------------- the review page
#
# Reading the review queue is using the API (above: a Viewer may). Labelling needs edit on the nightly
# DAG: the auth manager's ``is_authorized_dag(method="PUT", details=DagDetails(id=NIGHTLY_DAG_ID))``
# (the simple auth manager's User role and up). Without Airflow auth (``create_app(auth=None)`` or a
# replacement dependency, in tests) there is no Airflow user, and the app's own dependency decides.
#
# CSRF: the API's token scheme is Airflow's JWT, as an ``Authorization: Bearer`` header or the UI's
# ``_token`` cookie (httponly, SameSite=Lax). A bearer header is never sent by a browser on its own;
# the cookie is, so a write that the cookie authenticates must also carry ``X-CSRF-Token``: a SHA-256
# of that cookie, which only a page served to its holder (:func:`csrf_token`) can know. It is
# stateless, so any API server worker checks it.

CSRF_HEADER = "X-CSRF-Token"
_COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN
ANONYMOUS = "anonymous"


def airflow_user(request: Request) -> Any:
    """The Airflow user :func:`require_airflow_user` authenticated, or None without Airflow auth."""
    return getattr(request.state, "jobclass_user", None)


def user_name(request: Request) -> str:
    """Who is deciding: the Airflow user's name (``anonymous`` without Airflow auth)."""
    user = airflow_user(request)
    return str(user.get_name()) if user is not None else ANONYMOUS


def may_label(request: Request) -> bool:
    """Whether the caller may label: edit (PUT) on the nightly DAG, as the auth manager says."""
    user = airflow_user(request)
    if user is None:
        return True
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return bool(get_auth_manager().is_authorized_dag(method="PUT", details=DagDetails(id=NIGHTLY_DAG_ID), user=user))


def csrf_token(request: Request) -> str:
    """The CSRF token of the caller's cookie session ("" when it has no ``_token`` cookie)."""
    cookie = request.cookies.get(_COOKIE)
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


def require_label_permission(request: Request) -> str:
    """FastAPI dependency for a labelling write: CSRF-checked, edit permission; returns the reviewer."""
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    expected = csrf_token(request)
    if expected and not bearer and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or stale: reload the page")
    if not may_label(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"Forbidden: labelling needs edit permission on the {NIGHTLY_DAG_ID} DAG"
        )
    return user_name(request)
