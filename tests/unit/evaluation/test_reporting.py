"""The per-version HTML report: self-contained, escaped, with well-formed inline SVG charts (matplotlib)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from jobclass.evaluation.report import accuracy_at_k, render_report, write_report

METRICS = {
    "acc@1": 0.42,
    "acc@5": 0.71,
    "acc@10": 0.8,
    "mrr@10": 0.53,
    "ndcg@10": 0.6,
    "n": 300.0,
    "benchmark": "held-out",
    "benchmark_hash": "sha256:abc",
}
CHAMPION = {"acc@1": 0.40, "acc@5": 0.72, "acc@10": 0.79, "mrr@10": 0.50}
GROUPS = pd.DataFrame(
    {
        "major_group": ["11", "29"],
        "name": ["Management", "Healthcare <Practitioners>"],
        "n": [10, 20],
        "acc@1": [0.5, 0.25],
        "acc@5": [0.9, 0.6],
    }
)


def test_accuracy_at_k_is_sorted_and_numeric():
    assert accuracy_at_k(METRICS) == [(1, 0.42), (5, 0.71), (10, 0.8)]
    assert accuracy_at_k({"acc@x": 1, "acc@3": "n/a"}) == []


def test_write_report(tmp_path):
    path = write_report(
        tmp_path / "reports",
        version="20240101T000000Z-tiny-abc",
        metrics=METRICS,
        per_major_group=GROUPS,
        champion_version="v0",
        champion_metrics=CHAMPION,
        champion_per_major_group=GROUPS.assign(**{"acc@1": [0.4, 0.2]}),
        decision="promoted",
        reason="acc@1 +0.02 >= 0.005",
        benchmark_hash="sha256:abc",
        params={"epochs": 1},
    )
    assert path == tmp_path / "reports" / "20240101T000000Z-tiny-abc.html"
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "Healthcare &lt;Practitioners&gt;" in text  # escaped
    assert "+0.0200" in text  # the delta column
    svgs = re.findall(r"<svg.*?</svg>", text, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        root = ET.fromstring(svg)  # well-formed
        assert root.tag.endswith("svg")
    assert text.count('id="accuracy-at-k-series-') == 2  # challenger and champion curves (matplotlib lines)
    assert len(set(re.findall(r'id="([^"]+)"', text))) == len(re.findall(r'id="([^"]+)"', text))  # ids unique
    assert not list((tmp_path / "reports").glob("*.tmp"))


def test_report_without_champion_or_groups():
    text = render_report(version="v1", metrics={"acc@1": 0.1})
    assert "No per-major-group figures" in text and "(champion)" not in text


def test_unsafe_version_is_refused(tmp_path):
    with pytest.raises(ValueError):
        write_report(tmp_path, version="../escape", metrics={})


def test_a_section_shows_its_scores_and_groups_beside_the_champions():
    """The retrain report's held-out reviewed labels: how many, acc@1/5 and per major group, for both models."""
    from jobclass.pipeline.gate import _report_sections

    def model(acc1: float, group_acc1: float) -> dict:
        metrics = {"acc@1": acc1, "acc@5": acc1 + 0.2, "n": 40}
        groups = [{"major_group": "29", "name": "Healthcare Practitioners", "n": 40, "acc@1": group_acc1}]
        return {"metrics": {"held-out": metrics}, "groups_by_set": {"held-out": groups}}

    evaluation = {"benchmarks": {"reported-titles": {}, "held-out": {"role": "second gate", "rows": 40, "hash": "sha256:ab"}}}
    sections = _report_sections(evaluation, {"challenger": model(0.61, 0.7), "champion": model(0.55, 0.5)})
    title = "held-out: second gate (40 rows, sha256:ab)"
    assert list(sections) == [title]
    html = render_report(version="v2", metrics={"acc@1": 0.5}, champion_version="v1", sections=sections)
    section = html[html.index(title):]
    assert "By SOC major group" in section and "champion acc@1" in section
    assert "0.61" in section and "0.55" in section and "0.7" in section and "0.5" in section
