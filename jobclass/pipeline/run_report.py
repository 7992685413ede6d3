"""A nightly run's report as plain data: its counts, rejects, review share, score histogram, top
occupations and major-group mix against the trailing nights, and the drift checks.

The SQL is :mod:`jobclass.store.run_stats`, the drift math :mod:`jobclass.evaluation.drift`. The
plugin's run report page (:mod:`jobclass.airflow.api.run_report`) renders this; the nightly's
``finish`` step logs the drift warnings (:func:`warn_on_drift`).
"""

from __future__ import annotations

import logging
from typing import Any

from jobclass.evaluation.drift import SCORE_EDGES, drift_checks, score_bin_label, shares

log = logging.getLogger("jobclass.airflow")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _major_group_rows(current: dict[str, int], baseline: dict[str, int]) -> list[dict[str, Any]]:
    from jobclass.onet.taxonomy import MAJOR_GROUP_NAMES

    groups = sorted(set(current) | set(baseline))
    now, before = shares(current, groups), shares(baseline, groups)
    return [
        {
            "major_group": g,
            "name": MAJOR_GROUP_NAMES.get(g, ""),
            "n": current.get(g, 0),
            "share": now[g],
            "baseline_share": before[g] if baseline else None,
        }
        for g in groups
    ]


def _histogram(score_bins: list[int]) -> dict[str, int]:
    """Counts per score bin (aggregated in SQL over :data:`SCORE_EDGES`), keyed by the bins' labels."""
    return {score_bin_label(i, SCORE_EDGES): n for i, n in enumerate(score_bins)}


def build_run_report(engine, run_id: str) -> dict[str, Any] | None:
    """The report of prediction run ``run_id`` (see the module's docstring), or None if there is no such run.

    Keys: those of :func:`jobclass.store.run_stats.run_statistics`, plus ``review_share``,
    ``baseline_review_share``, ``score_histogram`` (``{"current", "baseline"}``: counts per bin),
    ``major_groups`` (rows with this run's and the baseline's share) and ``drift`` (one dict per check:
    ``name``, ``psi``, ``threshold``, ``drifted``)."""
    from jobclass.store.run_stats import run_statistics

    stats = run_statistics(engine, run_id, score_edges=SCORE_EDGES)
    if stats is None:
        return None
    current, baseline = stats["current"], stats["baseline"]
    histogram = {"current": _histogram(current["score_bins"]), "baseline": _histogram(baseline["score_bins"])}
    checks = drift_checks(
        major_groups=current["major_groups"],
        baseline_major_groups=baseline["major_groups"],
        scores=histogram["current"],
        baseline_scores=histogram["baseline"],
    )
    return {
        **stats,
        "review_share": _share(current["needs_review"], current["predicted"]),
        "baseline_review_share": _share(baseline["needs_review"], baseline["predicted"]),
        "score_histogram": histogram,
        "major_groups": _major_group_rows(current["major_groups"], baseline["major_groups"]),
        "drift": [c.as_dict() for c in checks],
    }


def drift_messages(report: dict[str, Any]) -> list[str]:
    """One line per drift check above its threshold."""
    return [
        f"DRIFT: run {report['run']['run_id']}: the {c['name']} moved from the trailing "
        f"{report['baseline_runs']} nights (PSI {c['psi']:.3f} > {c['threshold']})"
        for c in report["drift"]
        if c["drifted"]
    ]


def warn_on_drift(engine, run_id: str) -> list[str]:
    """Log a warning per drift check of the run above its threshold, and return those lines. Never
    raises: a report that cannot be built is itself only a warning, the run's outcome stands."""
    try:
        report = build_run_report(engine, run_id)
    except Exception as exc:  # the report is advice; it must not fail a run that reconciled
        log.warning("Run report of %s not computed: %s", run_id, exc)
        return []
    messages = drift_messages(report) if report else []
    for message in messages:
        log.warning(message)
    return messages
