"""A self-contained HTML report per model version: metrics table, accuracy@k curve, per-major-group bars.

The charts are inline SVG drawn by matplotlib (:mod:`jobclass.evaluation.charts`), so the report is one
file that opens offline in any browser. Nothing here knows about Airflow; the weekly retrain DAG calls
:func:`write_report`.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["write_report", "render_report", "accuracy_at_k"]

_K_METRIC = re.compile(r"^acc@(\d+)$")
_METRIC_ORDER = ("acc", "mrr", "ndcg", "precision", "recall", "soc6_acc", "major_acc")


def accuracy_at_k(metrics: Mapping[str, Any]) -> list[tuple[int, float]]:
    """The ``acc@k`` points of a metrics dict, sorted by k."""
    points = []
    for key, value in metrics.items():
        match = _K_METRIC.match(str(key))
        if match and _is_number(value):
            points.append((int(match.group(1)), float(value)))
    return sorted(points)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if _is_number(value):
        value = float(value)
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4f}"
    return _esc(value)


def _metric_sort_key(key: str) -> tuple[int, str, int]:
    name, _, k = key.partition("@")
    rank = _METRIC_ORDER.index(name) if name in _METRIC_ORDER else len(_METRIC_ORDER)
    return (rank, name, int(k) if k.isdigit() else 0)


def _records(per_group: Any) -> list[dict[str, Any]]:
    """Accept a pandas DataFrame (``jobclass.evaluation.metrics.per_major_group``), a list of dicts or None."""
    if per_group is None:
        return []
    if hasattr(per_group, "to_dict"):
        return list(per_group.to_dict(orient="records"))
    return [dict(row) for row in per_group]


# --------------------------------------------------------------------------- charts (matplotlib)


def _line_chart(series: list[tuple[str, list[tuple[int, float]]]]) -> str:
    """accuracy@k curves: x = k (categorical, in order), y = accuracy in [0, 1]."""
    if not any(points for _, points in series):
        return "<p class='muted'>No acc@k metrics to plot.</p>"
    from jobclass.evaluation.charts import line_chart

    return line_chart(series, key="accuracy-at-k", xlabel="k", ylabel="accuracy@k")


def _bar_chart(rows: list[dict[str, Any]], series: list[tuple[str, str]]) -> str:
    """Horizontal bars per major group; ``series`` is [(label, column)], one bar per series and group."""
    rows = [r for r in rows if any(_is_number(r.get(col)) for _, col in series)]
    if not rows:
        return "<p class='muted'>No per-major-group figures to plot.</p>"
    from jobclass.evaluation.charts import bar_chart

    names = []
    for row in rows:
        name = f"{row.get('major_group', '')} {row.get('name', '')}".strip()
        name = name if len(name) <= 48 else name[:47] + "…"
        names.append(name + (f" (n={int(row['n'])})" if _is_number(row.get("n")) else ""))
    values = [
        (label, [max(0.0, min(1.0, float(r[col]))) if _is_number(r.get(col)) else None for r in rows])
        for label, col in series
    ]
    return bar_chart(names, values, key="accuracy-by-major-group", xlabel="accuracy@1")


# --------------------------------------------------------------------------- HTML


def _metrics_table(columns: list[tuple[str, Mapping[str, Any]]]) -> str:
    keys = sorted({k for _, m in columns for k, v in m.items() if _is_number(v)}, key=_metric_sort_key)
    if not keys:
        return "<p class='muted'>No metrics recorded.</p>"
    show_delta = len(columns) == 2
    head = "".join(f"<th>{_esc(label)}</th>" for label, _ in columns)
    head += "<th>Δ</th>" if show_delta else ""
    body = []
    for key in keys:
        cells = "".join(f"<td>{_fmt(m.get(key))}</td>" for _, m in columns)
        if show_delta:
            a, b = columns[0][1].get(key), columns[1][1].get(key)
            if _is_number(a) and _is_number(b) and key != "n":
                delta = float(a) - float(b)
                cls = "pos" if delta > 0 else "neg" if delta < 0 else ""
                cells += f"<td class='{cls}'>{delta:+.4f}</td>"
            else:
                cells += "<td>–</td>"
        body.append(f"<tr><th>{_esc(key)}</th>{cells}</tr>")
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _group_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = [c for c in rows[0].keys()]
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return (
        f"<details><summary>Table</summary><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )


def _with_champion_acc1(per_group: Any, champion_per_group: Any) -> list[dict[str, Any]]:
    """The per-major-group rows, each with the champion's acc@1 beside it when there is a champion."""
    rows = _records(per_group)
    champion = {str(r.get("major_group")): r for r in _records(champion_per_group)}
    if champion:
        for row in rows:
            row["champion acc@1"] = champion.get(str(row.get("major_group")), {}).get("acc@1")
    return rows


def _section_groups(ours: Any = None, theirs: Any = None) -> str:
    """A section's per-major-group table (this version, and the champion's acc@1), when it has one."""
    rows = _with_champion_acc1(ours, theirs)
    return f"<h3>By SOC major group</h3>{_group_table(rows)}" if rows else ""


def _section_columns(
    label: str, champion_version: str | None, ours: Mapping[str, Any], theirs: Mapping[str, Any] | None
) -> list[tuple[str, Mapping[str, Any]]]:
    columns = [(label, ours)]
    if theirs is not None:
        columns.append((f"{champion_version or 'champion'} (champion)", theirs))
    return columns


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:960px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.5rem 0} th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child{text-align:left} .pos{color:#2a7d2a} .neg{color:#b22} .muted{color:#777}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem} dt{font-weight:600} dd{margin:0}
.decision{display:inline-block;padding:.2rem .6rem;border-radius:4px;background:#eef;font-weight:600}
pre{background:#f6f6f6;padding:.6rem;overflow:auto}
"""


def render_report(
    *,
    version: str,
    metrics: Mapping[str, Any],
    per_major_group: Any = None,
    champion_version: str | None = None,
    champion_metrics: Mapping[str, Any] | None = None,
    champion_per_major_group: Any = None,
    decision: str | None = None,
    reason: str | None = None,
    benchmark: str | None = None,
    benchmark_hash: str | None = None,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    sections: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The report as one HTML string (no external resources).

    ``sections``: further evaluation sets (a second gate, report-only benchmarks), each a title and the
    (this version, champion or None) metrics, optionally followed by their per-major-group rows (this
    version, champion or None), rendered as their own tables after the primary one.
    """
    generated_at = generated_at or datetime.now(UTC)
    challenger_label = f"{version} (this version)"
    columns: list[tuple[str, Mapping[str, Any]]] = [(challenger_label, metrics)]
    if champion_metrics is not None:
        columns.append((f"{champion_version or 'champion'} (champion)", champion_metrics))

    curve_series = [(label, accuracy_at_k(m)) for label, m in columns]
    curve_series = [(label, pts) for label, pts in curve_series if pts]

    groups = _with_champion_acc1(per_major_group, champion_per_major_group)
    bar_series = [(f"{version} acc@1", "acc@1")]
    if champion_per_major_group is not None and groups and "champion acc@1" in groups[0]:
        bar_series.append((f"{champion_version or 'champion'} acc@1", "champion acc@1"))

    facts: list[tuple[str, Any]] = [("Version", version), ("Generated", generated_at.isoformat(timespec="seconds"))]
    if champion_version:
        facts.append(("Compared with champion", champion_version))
    if benchmark:
        facts.append(("Held-out benchmark", benchmark))
    if benchmark_hash:
        facts.append(("Benchmark hash", benchmark_hash))
    if reason:
        facts.append(("Reason", reason))
    for key, value in (extra or {}).items():
        facts.append((key, value))
    facts_html = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    decision_html = f"<p class='decision'>Decision: {_esc(decision)}</p>" if decision else ""
    params_json = json.dumps(dict(params or {}), indent=2, sort_keys=True, default=str)
    params_html = f"<h2>Training parameters</h2><pre>{_esc(params_json)}</pre>" if params else ""
    sections_html = "".join(
        f"<h2>{_esc(title)}</h2>{_metrics_table(_section_columns(challenger_label, champion_version, ours, theirs))}"
        + _section_groups(*groups_pair)
        for title, (ours, theirs, *groups_pair) in (sections or {}).items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>jobclass model report {_esc(version)}</title>
<style>{_CSS}</style></head>
<body>
<h1>jobclass model report: {_esc(version)}</h1>
{decision_html}
<dl>{facts_html}</dl>
<h2>Metrics on the held-out test set</h2>
{_metrics_table(columns)}
{sections_html}
<h2>Accuracy@k</h2>
{_line_chart(curve_series)}
<h2>Accuracy@1 by SOC major group</h2>
{_bar_chart(groups, bar_series)}
{_group_table(groups)}
{params_html}
</body></html>
"""


def write_report(out_dir: str | os.PathLike[str], *, version: str, metrics: Mapping[str, Any], **kwargs: Any) -> Path:
    """Write ``<out_dir>/<version>.html`` atomically and return its path.

    ``kwargs`` are those of :func:`render_report`: ``per_major_group`` (a DataFrame from
    :func:`jobclass.evaluation.metrics.per_major_group` or a list of dicts), ``champion_version``,
    ``champion_metrics``, ``champion_per_major_group``, ``decision``, ``reason``, ``benchmark``,
    ``benchmark_hash``, ``params``, ``extra``, ``sections``.
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", version):
        raise ValueError(f"unsafe model version for a file name: {version!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{version}.html"
    text = render_report(version=version, metrics=metrics, **kwargs)
    fd, tmp = tempfile.mkstemp(prefix=f".{version}.", suffix=".html.tmp", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
