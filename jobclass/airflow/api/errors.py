"""No server internals in responses: error ids, and stored free text made safe to show.

Viewers may call this API, so a failure is logged here, with its traceback and a short error id,
and the response carries only a generic message and that id (``{"detail": ..., "error_id": ...}``):
never an exception's text, a bundle path or the database host or user. The free text the DAGs
store (a decision's reason, a failed run's detail) is shown with paths, URLs, exception text and
the database host and user replaced by placeholders.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jobclass.api")

SERVICE_UNAVAILABLE = 503


class ApiError(Exception):
    """An answer with a generic message: the details, if any, were logged under ``error_id``."""

    def __init__(
        self, status_code: int, detail: str, *, error_id: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.error_id = error_id
        self.retry_after = retry_after


def new_error_id() -> str:
    """A short id that ties a response to its log lines (the only detail a viewer gets)."""
    return uuid.uuid4().hex[:12]


def unavailable(message: str, what: str) -> ApiError:
    """503: log the current exception (``what``) with a new error id; answer only ``message`` and the id."""
    error_id = new_error_id()
    log.exception("[error %s] %s", error_id, what)
    return ApiError(SERVICE_UNAVAILABLE, f"{message} (error id {error_id})", error_id=error_id)


_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b(?::[^);\n]*)?")  # to the next ), ; or line end
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w.~/\\-])(?:~|[A-Za-z]:)?[/\\](?=[\w.])[^\s'\"<>(),;\[\]]*")


def text_scrubber(engine: Any) -> Callable[[str], str]:
    """Stored free text made safe to show: paths, URLs, exception text and the database's host
    and user become placeholders. The DAGs write decision reasons and failure details that may
    quote an exception; the detail itself stays in the task logs."""
    url = engine.url
    names = sorted({n for n in (url.host, url.username, url.password) if n and len(n) >= 3}, key=len, reverse=True)
    server = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])") if names else None

    def scrub(text: str) -> str:
        text = _TRACEBACK.sub("<traceback withheld>", text)
        text = _EXCEPTION.sub("<error withheld>", text)
        text = _URL.sub("<url>", text)
        text = _PATH.sub("<path>", text)
        return server.sub("<server>", text) if server else text

    return scrub


def scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    """``value`` with every string in it (in dicts and lists too) passed through ``scrub``."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, scrub) for v in value]
    return value
