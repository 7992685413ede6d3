"""jobclass.airflow.api.errors and the app's validation handler: no server internals in what a viewer sees."""

from __future__ import annotations

import logging
import math
import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from jobclass.airflow.api.app import MAX_ECHOED_CHARS, _clean_error
from jobclass.airflow.api.errors import ApiError, scrubbed, text_scrubber, unavailable


def _engine(url: str) -> SimpleNamespace:
    return SimpleNamespace(url=sa.make_url(url))


def test_the_scrubber_replaces_paths_urls_exceptions_and_the_server():
    scrub = text_scrubber(_engine("postgresql+psycopg://jc_owner:pw-secret@db.internal.example:5432/jc"))
    text = (
        "gate: BundleError: /srv/models/v1/heads.safetensors cannot be read; see https://x.example/a?b=1, "
        "C:\\models\\v2 and ~/cache/enc; host db.internal.example as jc_owner said pw-secret\n"
        "Traceback (most recent call last):\n  File \"/srv/x.py\", line 1"
    )
    out = scrub(text)
    for secret in ("/srv", "heads.safetensors", "x.example", "models", "~/cache", "db.internal.example", "jc_owner",
                   "pw-secret", "BundleError", "Traceback"):
        assert secret not in out, (secret, out)
    assert out.startswith("gate: <error withheld>; see <url>") and "<path>" in out and "<server>" in out
    assert out.endswith("<traceback withheld>")


def test_the_scrubber_keeps_ordinary_text_and_short_names():
    scrub = text_scrubber(_engine("sqlite:////tmp/jobclass.db"))  # no host or user to hide
    assert scrub("promoted: acc@1 0.61 > 0.58 (+0.03), force_promote=false") == (
        "promoted: acc@1 0.61 > 0.58 (+0.03), force_promote=false"
    )
    db = text_scrubber(_engine("postgresql+psycopg://pg@db/jc"))  # names under 3 characters are not replaced
    assert db("pg and db were fine") == "pg and db were fine"


def test_scrubbed_walks_dicts_and_lists_and_leaves_numbers():
    value = {"reason": "see /a/b", "nested": [{"why": "http://h/x"}, 0.5, None, True], "n": 3}
    assert scrubbed(value, lambda s: s.upper()) == {
        "reason": "SEE /A/B", "nested": [{"why": "HTTP://H/X"}, 0.5, None, True], "n": 3
    }


def test_unavailable_logs_the_cause_under_an_error_id_and_answers_only_the_id(caplog):
    caplog.set_level(logging.INFO, logger="jobclass.api")
    try:
        raise ConnectionError("connection to db.internal.example refused")
    except ConnectionError:
        error = unavailable("jobclass database unavailable", "could not connect")
    assert isinstance(error, ApiError) and error.status_code == 503 and error.retry_after is None
    assert re.fullmatch(r"[0-9a-f]{12}", error.error_id)
    assert error.detail == f"jobclass database unavailable (error id {error.error_id})"
    assert f"[error {error.error_id}] could not connect" in caplog.text and "db.internal.example" in caplog.text


@pytest.mark.parametrize(
    ("value", "echoed"),
    [(5, True), (True, True), (2.5, True), (math.nan, False), (math.inf, False), (10**30, False),
     ("x" * MAX_ECHOED_CHARS, True), ("x" * (MAX_ECHOED_CHARS + 1), False), ({"a": 1}, False)],
)
def test_a_validation_error_echoes_only_small_finite_inputs(value, echoed):
    out = _clean_error({"type": "t", "loc": ("body", 0), "msg": "m", "input": value, "ctx": {"e": ValueError()}})
    assert out["loc"] == ["body", "0"] and sorted(out) == sorted(["type", "loc", "msg", *(["input"] if echoed else [])])
