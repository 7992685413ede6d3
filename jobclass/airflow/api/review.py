"""The review queue page (issue 18): ``GET /review`` (server-rendered HTML and one small script),
``GET /review/occupations`` (the typeahead over the 1,016 occupations), ``POST /review/decisions``
(label a posting) and ``GET /review/csrf``. Every URL the page uses is relative to it.

Reading needs what the rest of the API needs (a Viewer); labelling needs edit on the nightly DAG,
and a cookie session needs the CSRF header (:mod:`jobclass.airflow.api.auth`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from jobclass.airflow.api.auth import CSRF_HEADER, NIGHTLY_DAG_ID, csrf_token, may_label, require_label_permission
from jobclass.airflow.api.state import ApiState, api_state

router = APIRouter()

PAGE_SIZE = 10
MAX_PAGE_NUMBER = 10_000
MAX_CURSOR = 2_000
STATIC_FILES = {
    "review.js": "text/javascript; charset=utf-8",
    "memory.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
}
# The page runs only its own script and style (no inline code, nothing from elsewhere); Airflow's
# UI, on the same origin, may frame it.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class DecisionIn(BaseModel):
    """A reviewer's decision: the code chosen (``coded``) or none (``not_codable``), on the predictions
    of ``model_version`` that the page showed."""

    posting_id: str = Field(min_length=1, max_length=200)
    decision: Literal["coded", "not_codable"]
    onet_code: str = Field("", max_length=10)
    model_version: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=2000)


class BulkDecisionIn(BaseModel):
    """One decision applied to the pending postings listed to the reviewer ("apply to all N pending
    postings with this title"): each gets its own label, with the same ``bulk_id``."""

    posting_ids: list[str] = Field(min_length=1, max_length=500)
    decision: Literal["coded", "not_codable"]
    onet_code: str = Field("", max_length=10)
    model_version: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=2000)


class RetireIn(BaseModel):
    memory_key: str = Field(min_length=1, max_length=1000)
    note: str | None = Field(None, max_length=2000)


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jobclass.airflow.api", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["query"] = lambda params: "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return env


# --------------------------------------------------------------------------- the Airflow run


def _run_from_airflow(engine: Any, dag_id: str, dag_run_id: str) -> tuple[str | None, str]:
    """(prediction run_id or None, a notice for the page)."""
    if dag_id != NIGHTLY_DAG_ID:
        return None, f"{dag_id} runs have no review queue: showing every run's."
    from jobclass.airflow.api.dag_runs import prediction_run_of

    try:
        run_id = prediction_run_of(engine, dag_id, dag_run_id)
    except Exception:  # Airflow's metadata database unreachable: show the whole queue, say so
        run_id = None
    if run_id is None:
        return None, f"No prediction run found for the Airflow run {dag_run_id}: showing every run's."
    return run_id, f"The postings of the Airflow run {dag_run_id}."


# --------------------------------------------------------------------------- the page


def _entries(engine: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from jobclass.pipeline.review import SUGGESTIONS, marked_body
    from jobclass.store.labels import current_labels, top_predictions

    ids = [r["posting_id"] for r in rows]
    top, current = top_predictions(engine, ids, SUGGESTIONS), current_labels(engine, ids)
    return [
        {
            **row,
            "segments": marked_body(row["title"], row["body"]),
            "suggestions": top.get((row["posting_id"], row["model_version"]), []),
            "current": current.get(row["posting_id"]),
        }
        for row in rows
    ]


def _queue_page(engine: Any, filters: Any, position: dict[str, Any]) -> tuple[Any, int]:
    """(the page, its number) at ``position``: the cursor after which (``after``) or before which
    (``before``) it lies, else page ``page`` (an old link: found once by OFFSET, then by cursor). The
    queue is counted on the first page only; the links pass the count on (``total``)."""
    from jobclass.store.labels import cursor_at, queue_page

    page, after, before, total = position["page"], position["after"], position["before"], position["total"]
    if not (after or before) and page > 1:
        after = cursor_at(engine, filters, (page - 1) * PAGE_SIZE)
    try:
        found = queue_page(engine, filters, PAGE_SIZE, after=after or None, before=before or None, count=total is None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if found.prev_cursor is None:
        page = 1
    if total is not None:
        found = dataclasses.replace(found, total=total)
    return found, page


def _page_context(request: Request, engine: Any, filters: Any, position: dict[str, Any], notice: str) -> dict[str, Any]:
    from jobclass.pipeline.review import SCORE_BANDS, major_groups, title_of
    from jobclass.store.labels import QUEUE_STATES, review_model_versions, review_runs

    found, page = _queue_page(engine, filters, position)
    total = max(found.total or 0, (page - 1) * PAGE_SIZE + len(found.rows))
    return {
        "entries": _entries(engine, found.rows),
        "total": total,
        "page": page,
        "pages": max(page, math.ceil(total / PAGE_SIZE)),
        "prev_cursor": found.prev_cursor,
        "next_cursor": found.next_cursor,
        "runs": review_runs(engine),
        "model_versions": review_model_versions(engine),
        "groups": major_groups(),
        "bands": list(SCORE_BANDS),
        "states": QUEUE_STATES,
        "orders": {"impact": "most postings settled first", "newest": "newest run first"},
        "title_of": title_of(),
        "may_label": may_label(request),
        "csrf": csrf_token(request),
        "notice": notice,
    }


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(
    request: Request,
    run: str | None = Query(None, max_length=300),
    group: str | None = Query(None, max_length=2),
    band: str | None = Query(None, max_length=10),
    model: str | None = Query(None, max_length=200),
    state: str = Query("pending", max_length=10),
    q: str | None = Query(None, max_length=200),
    order: str = Query("impact", max_length=10),
    page: int = Query(1, ge=1, le=MAX_PAGE_NUMBER),
    after: str | None = Query(None, max_length=MAX_CURSOR),
    before: str | None = Query(None, max_length=MAX_CURSOR),
    total: int | None = Query(None, ge=0),
    dag_id: str | None = Query(None, max_length=250),
    dag_run_id: str | None = Query(None, max_length=250),
    app_state: ApiState = Depends(api_state),
) -> HTMLResponse:
    """The review queue: the postings flagged for review, by default those one decision settles
    most of first (postings sharing a title), then the least certain, and last those whose title was
    decided since they were coded (the next nightly re-codes them from that decision)."""
    selected = {"run": run, "group": group, "band": band, "model": model, "state": state, "q": q, "order": order}
    position = {"page": page, "after": after, "before": before, "total": total}
    return _page(request, app_state, "review", selected, position, dag_id, dag_run_id)


@router.get("/predictions", response_class=HTMLResponse, include_in_schema=False)
def predictions_page(
    request: Request,
    run: str | None = Query(None, max_length=300),
    group: str | None = Query(None, max_length=2),
    band: str | None = Query(None, max_length=10),
    model: str | None = Query(None, max_length=200),
    state: str = Query("all", max_length=10),
    q: str | None = Query(None, max_length=200),
    order: str = Query("newest", max_length=10),
    page: int = Query(1, ge=1, le=MAX_PAGE_NUMBER),
    after: str | None = Query(None, max_length=MAX_CURSOR),
    before: str | None = Query(None, max_length=MAX_CURSOR),
    total: int | None = Query(None, ge=0),
    dag_id: str | None = Query(None, max_length=250),
    dag_run_id: str | None = Query(None, max_length=250),
    app_state: ApiState = Depends(api_state),
) -> HTMLResponse:
    """The predictions browser: every stored posting's latest predictions, searchable by posting id,
    code (or its prefix) and title words; the same cards and actions as the review queue."""
    selected = {"run": run, "group": group, "band": band, "model": model, "state": state, "q": q, "order": order}
    position = {"page": page, "after": after, "before": before, "total": total}
    return _page(request, app_state, "predictions", selected, position, dag_id, dag_run_id)


PAGES = {"review": "Review queue", "predictions": "Predictions"}


def _page(
    request: Request,
    app_state: ApiState,
    path: str,
    selected: dict[str, Any],
    position: dict[str, Any],
    dag_id: str | None,
    dag_run_id: str | None,
) -> HTMLResponse:
    from jobclass.pipeline.review import score_band
    from jobclass.store.labels import QueueFilter

    engine = app_state.engine()
    notice = ""
    if dag_id and dag_run_id and not selected["run"]:
        selected["run"], notice = _run_from_airflow(engine, dag_id, dag_run_id)
    try:
        low, high = score_band(selected["band"])
        filters = QueueFilter(
            selected["run"] or None, selected["group"] or None, selected["model"] or None, low, high,
            selected["state"], flagged_only=path == "review", search=selected["q"], order=selected["order"],
        )
        filters.params()
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    context = _page_context(request, engine, filters, position, notice)
    selected = {k: v or "" for k, v in selected.items()}
    html = _templates().get_template("review.html").render(**context, selected=selected, path=path, heading=PAGES[path])
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/review/static/{name}", include_in_schema=False)
def review_static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers={"X-Content-Type-Options": "nosniff"})


@router.get("/review/occupations")
def search_occupations(q: str = Query("", max_length=100), limit: int = Query(10, ge=1, le=50)) -> list[dict[str, str]]:
    """Occupations by code prefix or title words (the typeahead)."""
    from jobclass.pipeline.review import search_occupations as search

    return [{"code": o.code, "title": o.title} for o in search(q, limit)]


@router.get("/review/csrf")
def review_csrf(request: Request) -> dict[str, str]:
    """The CSRF token of this session (after Airflow refreshed its cookie, the page asks again)."""
    return {"token": csrf_token(request), "header": CSRF_HEADER}


@router.post("/review/decisions")
def decide(
    decision: DecisionIn,
    reviewer: str = Depends(require_label_permission),
    app_state: ApiState = Depends(api_state),
) -> dict[str, Any]:
    """Record a decision: it replaces the posting's current one (kept in the history)."""
    from jobclass.pipeline.review import SUGGESTIONS, suggested_rank, title_of
    from jobclass.store.labels import Decision, known_posting_ids, record_decision, top_predictions

    engine = app_state.engine()
    if decision.decision == "coded" and decision.onet_code not in title_of():
        raise HTTPException(422, f"unknown O*NET-SOC code {decision.onet_code!r}")
    if not known_posting_ids(engine, [decision.posting_id]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown posting")
    shown = top_predictions(engine, [decision.posting_id], SUGGESTIONS).get(
        (decision.posting_id, decision.model_version or ""), []
    )
    code = decision.onet_code if decision.decision == "coded" else ""
    try:
        stored = record_decision(
            engine,
            Decision(
                decision.posting_id, decision.decision, code, reviewer, decision.model_version,
                suggested_rank(shown, code) if code else None, decision.note or None,
            ),
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {**stored, "title": title_of().get(stored["onet_code"], ""), "memory": _memory_after(engine, [decision.posting_id])}


def _memory_after(engine: Any, posting_ids: list[str]) -> dict[str, Any] | None:
    """The memory entry the decided postings' key now has (what later postings with it will get)."""
    from jobclass.pipeline.memory import memory_entry_of

    return memory_entry_of(engine, posting_ids[0])


@router.get("/review/group")
def review_group(
    posting_id: str = Query(min_length=1, max_length=200),
    app_state: ApiState = Depends(api_state),
) -> dict[str, Any]:
    """The pending postings flagged for review that share this posting's title (memory key): what
    "apply to all N" would decide, listed for the reviewer to check before confirming."""
    from jobclass.store.labels import pending_group

    rows = pending_group(app_state.engine(), posting_id)
    postings = [
        {k: r[k] for k in ("posting_id", "title", "onet_code", "score", "source", "model_version", "run_id")}
        for r in rows
    ]
    return {"memory_key": rows[0]["memory_key"] if rows else None, "n": len(postings), "postings": postings}


@router.post("/review/decisions/bulk")
def decide_bulk(
    bulk: BulkDecisionIn,
    reviewer: str = Depends(require_label_permission),
    app_state: ApiState = Depends(api_state),
) -> dict[str, Any]:
    """One decision on every listed posting: N labels, each with the reviewer, the time and the
    bulk decision's id. The postings must all be pending and share one title (memory key)."""
    import uuid

    from jobclass.pipeline.review import SUGGESTIONS, suggested_rank, title_of
    from jobclass.store.labels import Decision, pending_group, record_decisions, top_predictions

    engine = app_state.engine()
    if bulk.decision == "coded" and bulk.onet_code not in title_of():
        raise HTTPException(422, f"unknown O*NET-SOC code {bulk.onet_code!r}")
    ids = list(dict.fromkeys(bulk.posting_ids))
    group = {r["posting_id"]: r for r in pending_group(engine, ids[0])}
    outside = [p for p in ids if p not in group]
    if outside:
        raise HTTPException(
            409, f"{len(outside)} of the listed postings are no longer pending with this title (e.g. {outside[0]}): reload the list"
        )
    code = bulk.onet_code if bulk.decision == "coded" else ""
    bulk_id = uuid.uuid4().hex
    shown = top_predictions(engine, ids, SUGGESTIONS)
    decisions = [
        Decision(
            p, bulk.decision, code, reviewer, group[p]["model_version"],
            suggested_rank(shown.get((p, group[p]["model_version"]), []), code) if code else None,
            bulk.note or None, bulk_id,
        )
        for p in ids
    ]
    record_decisions(engine, decisions)
    return {
        "recorded": len(decisions),
        "bulk_id": bulk_id,
        "posting_ids": ids,
        "decision": bulk.decision,
        "onet_code": code,
        "title": title_of().get(code, ""),
        "reviewer": reviewer,
        "memory": _memory_after(engine, ids),
    }


@router.get("/review/memory/entries")
def memory_entries(
    q: str | None = Query(None, max_length=200),
    conflicts: bool = Query(False),
    limit: int = Query(200, ge=1, le=5000),
    app_state: ApiState = Depends(api_state),
) -> list[dict[str, Any]]:
    """The memory's entries, largest first; ``q`` filters keys by words, ``conflicts`` keeps the conflicting."""
    from jobclass.pipeline.memory import memory_table

    table = memory_table(app_state.engine(), search=q, conflicts_only=conflicts)
    return table.head(limit).to_dict("records")


@router.post("/review/memory/retire")
def memory_retire(
    body: RetireIn,
    reviewer: str = Depends(require_label_permission),
    app_state: ApiState = Depends(api_state),
) -> dict[str, Any]:
    """Retire an entry: the decisions made on its key so far stop counting (they stay labels)."""
    from jobclass.store.memory import retire

    at = retire(app_state.engine(), body.memory_key, reviewer, body.note)
    return {"memory_key": body.memory_key, "retired_at": at, "retired_by": reviewer}


@router.get("/memory", response_class=HTMLResponse, include_in_schema=False)
def memory_page(
    request: Request,
    q: str | None = Query(None, max_length=200),
    conflicts: bool = Query(False),
    app_state: ApiState = Depends(api_state),
) -> HTMLResponse:
    """The coded-title memory: every title reviewers decided, what later postings with it get, and
    a Retire button; conflicting entries (reviewers disagree) first when asked."""
    from jobclass.pipeline.memory import memory_table
    from jobclass.pipeline.review import title_of

    table = memory_table(app_state.engine(), search=q, conflicts_only=conflicts)
    html = _templates().get_template("memory.html").render(
        entries=table.head(500).to_dict("records"), total=len(table), q=q or "", conflicts=conflicts,
        title_of=title_of(), may_label=may_label(request), csrf=csrf_token(request),
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)
