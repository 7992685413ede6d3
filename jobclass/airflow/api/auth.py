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

from typing import Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    return user
