"""The plugin's Airflow UI entries (``external_views``, Airflow 3.1+): the review queue and the
predictions browser in the nav, and "Review this run", "Predictions of this run" and "Run report"
on each DAG run. Their hrefs are relative: the UI resolves them against its
``<base href>``, so they work under a proxy's path prefix too. On a DAG run the UI fills in
``{DAG_ID}`` and ``{RUN_ID}``; the page maps that Airflow run to its prediction run."""

from __future__ import annotations

from typing import Any


def external_views(url_prefix: str) -> list[dict[str, Any]]:
    """The views, for the app mounted at ``url_prefix`` (e.g. ``/jobclass``)."""
    page = f"{url_prefix.strip('/')}/review"
    browser = f"{url_prefix.strip('/')}/predictions"
    return [
        {"name": "Review queue", "href": page, "url_route": "jobclass-review", "destination": "nav"},
        {"name": "Predictions", "href": browser, "url_route": "jobclass-predictions", "destination": "nav"},
        {
            "name": "Predictions of this run",
            "href": browser + "?dag_id={DAG_ID}&dag_run_id={RUN_ID}",
            "url_route": "jobclass-predictions-run",
            "destination": "dag_run",
        },
        {
            "name": "Review this run",
            "href": page + "?dag_id={DAG_ID}&dag_run_id={RUN_ID}",
            "url_route": "jobclass-review-run",
            "destination": "dag_run",
        },
        {  # the nightly run report (jobclass.airflow.api.run_report)
            "name": "Run report",
            "href": f"{url_prefix.strip('/')}/report/{{DAG_ID}}/{{RUN_ID}}",
            "url_route": "jobclass-run-report",
            "destination": "dag_run",
        },
    ]
