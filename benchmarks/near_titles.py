"""Where a title's qualifier starts, for the memory's fallback on a title's head
(:func:`jobclass.memory.keys.near_key`), measured on labelled titles outside every benchmark.

    .venv/bin/python benchmarks/near_titles.py [--json FILE]

Sources (``jobclass/resources/titles``, read as training reads them: benchmark titles and the
held-out commercial-titles slice removed): ``dol_h2`` (employer titles with the SOC code the
Department of Labor certified, weighted by certifications; its weak rows left out) and
``usajobs_series`` (federal titles with their OPM series, one row each: a coarser label than SOC).
For every title whose head has *other* titles, the head's other titles' majority label is compared
with the title's own (leave-one-out, as the memory would code a posting whose own title nobody
reviewed). Beside it, the same for the exact title (``dol_h2`` only: ``usajobs_series`` lists one row
per title and series, so its repeated titles are its conflicting ones). Each qualifier choice is a
row; the product's is ``near_key``. No posting of the stream or of a benchmark is read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from jobclass.memory.keys import memory_key, near_key


def _head_at(pattern: str) -> Callable[[str], str]:
    qualifier = re.compile(pattern)

    def head(title: str) -> str:
        part = qualifier.split(title, maxsplit=1)[0]
        return memory_key(part) or memory_key(title)

    return head


VARIANTS: dict[str, Callable[[str], str]] = {
    "near_key (parenthesis, spaced dash, colon, semicolon, #)": near_key,
    "parenthesis only": _head_at(r"\s*\("),
    "spaced dash only": _head_at(r"\s[-\u2013\u2014]\s"),
    "comma only": _head_at(r"\s*,"),
    "near_key and a comma": _head_at(r"\s*(?:\(|,|\s[-\u2013\u2014]\s|:|;|\s#)"),
}


def labelled(source: str) -> pd.DataFrame:
    """title, label, weight: the source as training reads it (benchmark titles and the held-out
    commercial-titles slice removed; ``dol_h2``'s weak rows left out)."""
    from jobclass.training.title_sources import read_source

    frame = read_source(source, set()).astype(str)
    if source == "dol_h2":
        frame = frame[frame["weak"] != "1"]
        return pd.DataFrame({"title": frame["title"], "label": frame["onet_code"], "weight": frame["cases"].astype(int)})
    return pd.DataFrame({"title": frame["title"], "label": frame["series"], "weight": 1})


def head_agreement(frame: pd.DataFrame, head: Callable[[str], str]) -> dict[str, float | int]:
    """Titles (weighted) whose head has other titles, and the share whose label is those titles' majority."""
    groups: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for title, label, weight in frame.itertuples(index=False):
        key = memory_key(title)
        if key:
            groups[head(title) or key][key][label] += int(weight)
    n = right = 0
    for titles in groups.values():
        for key, labels in titles.items():
            others = Counter()
            for other, counts in titles.items():
                if other != key:
                    others.update(counts)
            if others:
                top = others.most_common(1)[0][0]
                n += sum(labels.values())
                right += labels.get(top, 0)
    return {"postings": n, "agreement": round(right / max(n, 1), 3), "heads": len(groups)}


def exact_agreement(frame: pd.DataFrame) -> dict[str, float | int]:
    """Leave-one-out agreement of the exact title (each weighted row scored by the title's other rows)."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for title, label, weight in frame.itertuples(index=False):
        if key := memory_key(title):
            groups[key][label] += int(weight)
    n = right = 0
    for labels in groups.values():
        for label, count in labels.items():
            for _ in range(count):
                labels[label] -= 1
                top, votes = labels.most_common(1)[0]
                if votes > 0:
                    n += 1
                    right += top == label
                labels[label] += 1
    return {"postings": n, "agreement": round(right / max(n, 1), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, dict] = {}
    for source in ("dol_h2", "usajobs_series"):
        frame = labelled(source)
        report[source] = {name: head_agreement(frame, head) for name, head in VARIANTS.items()}
        if source == "dol_h2":
            report[source]["exact title"] = exact_agreement(frame)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
