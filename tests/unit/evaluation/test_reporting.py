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
