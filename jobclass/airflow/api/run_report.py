"""The nightly run report: an HTML page per DAG run, shown in the Airflow UI on a DAG run's
"Run report" tab (the plugin's ``external_views`` entry, :mod:`jobclass.airflow.api.views`).

``GET {prefix}/report/{dag_id}/{dag_run_id}`` finds the DAG run's interval in Airflow's metadata (the
``resolve_interval`` task's XCom, else the run's data interval), the newest prediction run of that
interval, and renders its report (:func:`jobclass.pipeline.run_report.build_run_report`): counts,
rejects, review share, score histogram, top occupations and major-group mix against the trailing 28
nights, and the drift checks. ``GET {prefix}/report?run_id=...`` renders one prediction run by its id.

The page is self-contained (inline CSS and inline SVG charts drawn by matplotlib, no script), so it
works in the UI's iframe and opens offline.

Bounded like ``/predict``: building a report (its SQL aggregates and charts) takes one of the report
slots (:func:`jobclass.airflow.api.limits.report_slots`; busy: 503 with ``Retry-After``, too slow:
504). A finished run's report is built once and kept (:mod:`.report_cache`): later requests render
the kept report and charts into the page without a slot, the SQL or matplotlib.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from jobclass.airflow.api.dag_runs import dag_run_interval
from jobclass.airflow.api.errors import scrubbed, text_scrubber, unavailable
from jobclass.airflow.api.state import ApiState, api_state
from jobclass.airflow.dag_ids import NIGHTLY_DAG_ID

HERE = Path(__file__).resolve().parent

router = APIRouter()


# --------------------------------------------------------------------------- rendering


@cache
def _template():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template("run_report.html")


def _count(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _percent(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1%}"


def _charts(report: dict[str, Any]) -> dict[str, str]:
    """The three charts as inline SVG (this run against the trailing nights, as shares)."""
    from markupsafe import Markup

    from jobclass.evaluation.charts import bar_chart
    from jobclass.evaluation.drift import shares

    trailing = f"trailing {report['nights']} nights"
    has_baseline = report["baseline"]["predicted"] > 0

    def pair(now: list[float | None], before: list[float | None]) -> list[tuple[str, list[float | None]]]:
        return [("this run", now), (trailing, before)] if has_baseline else [("this run", now)]

    histogram = report["score_histogram"]
    bins = list(histogram["current"])
    now, before = shares(histogram["current"], bins), shares(histogram["baseline"], bins)
    top = report["top_occupations"]
    predicted, baseline_predicted = report["current"]["predicted"], report["baseline"]["predicted"]
    groups = report["major_groups"]
    charts = {
        "scores": bar_chart(bins, pair([now[b] for b in bins], [before[b] for b in bins]), key="scores",
                            xlabel="top-1 score", horizontal=False, percent=True),
        "occupations": bar_chart(
            [f"{r['onet_code']} {r['onet_title']}" for r in top],
            pair([r["n"] / predicted for r in top], [r["baseline_n"] / max(baseline_predicted, 1) for r in top]),
            key="occupations", xlabel="share of predicted postings", percent=True,
        ) if top else "<p class='muted'>No postings predicted.</p>",
        "major_groups": bar_chart(
            [f"{g['major_group']} {g['name']}" for g in groups],
            pair([g["share"] for g in groups], [g["baseline_share"] for g in groups]),
            key="major-groups", xlabel="share of predicted postings", percent=True,
        ) if groups else "<p class='muted'>No postings predicted.</p>",
    }
    return {name: Markup(svg) for name, svg in charts.items()}


def render_run_report(
    report: dict[str, Any] | None,
    *,
    charts: dict[str, str] | None = None,
    message: str = "",
    dag_run: dict[str, str] | None = None,
    interval: dict[str, str] | None = None,
) -> str:
    """The page: the report (with its ``charts``, drawn here when not given), or ``message`` when there is none."""
    css = (HERE / "static" / "run_report.css").read_text(encoding="utf-8")
    drifted = [c for c in report["drift"] if c["drifted"]] if report else []
    if report and charts is None:
        charts = _charts(report)
    return _template().render(
        report=report,
        charts=charts or {},
        drifted=drifted,
        message=message,
        dag_run=dag_run,
        interval=interval,
        css=css,
        count=_count,
        percent=_percent,
    )


# --------------------------------------------------------------------------- building, bounded and kept


def _built(state: ApiState, run_id: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The report of ``run_id`` with its stored text scrubbed, and its charts; None if the run is gone."""
    from jobclass.pipeline.run_report import build_run_report

    engine = state.engine()
    try:
        report = build_run_report(engine, run_id)
    except Exception as exc:
        raise unavailable("run report unavailable", "could not build the run report") from exc
    if report is None:
        return None
    report["run"] = scrubbed(report["run"], text_scrubber(engine))
    return report, _charts(report)


def _inputs(state: ApiState, run_id: str) -> tuple[dict[str, Any], tuple] | None:
    from jobclass.store.run_stats import report_inputs

    engine = state.engine()
    try:
        return report_inputs(engine, run_id)
    except Exception as exc:
        raise unavailable("run report unavailable", "could not read the prediction run") from exc


async def _report_of(state: ApiState, run_id: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The report and charts of ``run_id`` (None: no such run): a finished run's from the cache, or
    built once in a report slot; a running run's built in a slot for this request only."""
    inputs = await run_in_threadpool(_inputs, state, run_id)
    if inputs is None:
        return None
    run, key = inputs
    if run["status"] == "running":  # its report changes with every chunk: never kept
        return await state.report_slots.run(lambda: _built(state, run_id))
    kept = state.reports.cached(key)
    if kept is not None:
        return kept
    return await state.report_slots.run(lambda: state.reports.get_or_build(key, lambda: _built(state, run_id)))


# --------------------------------------------------------------------------- routes


async def _prediction_run_page(state: ApiState, run_id: str, **context: Any) -> str:
    built = await _report_of(state, run_id)
    if built is None:
        return render_run_report(None, message=f"No prediction run {run_id} is recorded.", **context)
    report, charts = built
    return await run_in_threadpool(lambda: render_run_report(report, charts=charts, **context))


def _dag_run_context(state: ApiState, dag_id: str, dag_run_id: str) -> tuple[str | None, dict[str, Any], str]:
    """(prediction run_id or None, the page's context, the message when there is no run)."""
    from jobclass.store.run_stats import latest_run_of_interval

    context: dict[str, Any] = {"dag_run": {"dag_id": dag_id, "run_id": dag_run_id}}
    if dag_id != NIGHTLY_DAG_ID:
        return None, context, f"Run reports are for the {NIGHTLY_DAG_ID} DAG's runs."
    try:
        interval = dag_run_interval(dag_id, dag_run_id)
    except Exception as exc:
        raise unavailable("Airflow metadata unavailable", "could not read the DAG run's interval") from exc
    if interval is None:
        message = "This run has not resolved its interval (yet): it has no report. It may be queued, or was skipped."
        return None, context, message
    context["interval"] = interval
    try:
        run = latest_run_of_interval(state.engine(), interval["start"], interval["end"])
    except Exception as exc:
        raise unavailable("prediction runs unavailable", "could not find the run of an interval") from exc
    if run is None:
        message = "No prediction run is recorded for this interval yet (the run has not planned its chunks)."
        return None, context, message
    return run["run_id"], context, ""


@router.get("/report", response_class=HTMLResponse, include_in_schema=True)
async def prediction_run_report(
    run_id: str = Query(..., min_length=1, max_length=400, description="A prediction run's id."),
    state: ApiState = Depends(api_state),
) -> HTMLResponse:
    """The report of one prediction run (``prediction_runs.run_id``), as HTML."""
    return HTMLResponse(await _prediction_run_page(state, run_id))


@router.get("/report/{dag_id}/{dag_run_id:path}", response_class=HTMLResponse)
async def dag_run_report(dag_id: str, dag_run_id: str, state: ApiState = Depends(api_state)) -> HTMLResponse:
    """The report of a nightly DAG run (the UI's "Run report" tab), as HTML."""
    run_id, context, message = await run_in_threadpool(_dag_run_context, state, dag_id, dag_run_id)
    if run_id is None:
        return HTMLResponse(render_run_report(None, message=message, **context))
    return HTMLResponse(await _prediction_run_page(state, run_id, **context))
