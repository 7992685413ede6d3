"""Draw the postings of the real-postings benchmark and write the coders' batches.

    python scripts/real_postings_sample.py OUT_DIR            # the 342 of the frozen benchmark
    python scripts/real_postings_sample.py --stream OUT_DIR   # the other 451 (labels_stream.csv)

One posting per distinct title (the first by a SHA-256 of its id), plus 80 more drawn the same way,
in a hash-drawn order, split round-robin into three batches of Markdown that a coder reads
(title, organisation, series, the body the nightly reads, and the qualification summary for
context). The coders' CSVs are concatenated into jobclass/resources/real_postings/labels.csv.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import sys
from pathlib import Path

POSTINGS = Path(__file__).resolve().parents[1] / "jobclass" / "resources" / "postings" / "usajobs_2016_2021.jsonl.gz"
EXTRA = 80
BATCHES = 3
STREAM_BATCHES = 5
SECOND_SAMPLE = 60


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample(rows: list[dict]) -> list[dict]:
    by_title: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: _h("pick:" + r["id"])):
        by_title.setdefault(row["title"].strip().lower(), row)
    chosen = {r["id"] for r in by_title.values()}
    extra = [r for r in sorted(rows, key=lambda r: _h("extra:" + r["id"])) if r["id"] not in chosen][:EXTRA]
    chosen |= {r["id"] for r in extra}
    return sorted((r for r in rows if r["id"] in chosen), key=lambda r: _h("order:" + r["id"]))


def batch_text(row: dict) -> str:
    body = html.unescape("\n".join(p for p in [row.get("job_summary") or "", *(row.get("major_duties") or [])] if p))
    body = body[:2500] + " […]" if len(body) > 2500 else body
    quals = html.unescape(row.get("qualification_summary") or "")[:600]
    return (
        f"## {row['id']}\nTITLE: {row['title']}\nORG: {row.get('organization')} / {row.get('department')}\n"
        f"SERIES: {row.get('occupational_series')} {row.get('occupational_series_names')}\nBODY:\n{body}\n"
        f"QUALIFICATIONS (context only): {quals}\n\n"
    )


def rest(rows: list[dict]) -> list[dict]:
    """The postings the benchmark did not draw (the stream file), in a hash-drawn order."""
    chosen = {r["id"] for r in sample(rows)}
    return sorted((r for r in rows if r["id"] not in chosen), key=lambda r: _h("order:" + r["id"]))


def main(out_dir: str, stream: bool = False) -> None:
    rows = [json.loads(line) for line in gzip.open(POSTINGS, "rt", encoding="utf-8")]
    chosen = rest(rows) if stream else sample(rows)
    batches = STREAM_BATCHES if stream else BATCHES
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(batches):
        part = chosen[i::batches]
        (out / f"batch_{i + 1}.md").write_text("".join(batch_text(r) for r in part), encoding="utf-8")
        print(f"batch_{i + 1}.md: {len(part)} postings")
    if stream:
        # The second coder's sample: a hash-drawn SECOND_SAMPLE of the stream file, coded blind.
        second = sorted(chosen, key=lambda r: _h("second:" + r["id"]))[:SECOND_SAMPLE]
        (out / "second.md").write_text("".join(batch_text(r) for r in second), encoding="utf-8")
        print(f"second.md: {len(second)} postings")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[-1], stream="--stream" in args)
