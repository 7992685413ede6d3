"""Does a posting's body help on real postings? A reviewed comparison on the vendored USAJOBS sample.

    .venv/bin/python benchmarks/usajobs_review.py [--model BUNDLE] [--backend B] [--duty-gate SCORE]

The 793 USAJOBS postings (jobclass/resources/postings) carry no O*NET labels, so this is not an
accuracy figure. Each of the 262 distinct titles (first posting of each, case-folded) is coded twice:
from its title alone, and from its title and body as the nightly codes it. It is also coded with
the body read without the duty-sentence gate (``min_duty_score`` 0, as before the gate). Where a
top-1 code with the body differs from the title's, ``usajobs_review.csv`` says which codes are right
for that posting, and the script counts the postings the body fixes, the ones it breaks and the ties,
with a two-sided sign test over the first two.

Review: one developer, 2026-12-01, from the posting's title and cleaned body. The first 112 pairs
were judged blind, as A/B pairs in an order drawn by hash; later pairs one code at a time, without
saying which reading proposed it. A pair the file lacks is listed as unreviewed, for a reviewer
to judge and add.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REVIEW = Path(__file__).with_name("usajobs_review.csv")


def distinct_postings() -> pd.DataFrame:
    from jobclass.paths import RESOURCES_DIR
    from jobclass.postings.files import read_postings_file
    from jobclass.postings.rows import posting_row

    records = read_postings_file(RESOURCES_DIR / "postings" / "usajobs_2016_2021.jsonl.gz")
    rows = pd.DataFrame([posting_row(r, default_source="usajobs", ingested_at="") for r in records])
    return rows.assign(key=rows["title"].str.lower().str.strip()).drop_duplicates("key").reset_index(drop=True)


OUTCOME = {(True, True): "both right", (False, False): "both wrong", (False, True): "body fixes", (True, False): "body breaks"}


def top1(classifier, frame: pd.DataFrame, with_body: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each posting's top-1 code, and whether its body was read."""
    bodies = frame["body"].fillna("").tolist() if with_body else [""] * len(frame)
    Q, has_body = classifier.queries(frame["title"].tolist(), bodies)
    return np.array(classifier.codes)[classifier.proba(Q, has_body).argmax(axis=1)], has_body


def compare(frame: pd.DataFrame, title_codes: np.ndarray, body_codes: np.ndarray, review: dict) -> dict:
    from scipy.stats import binomtest

    counts = {"differ": 0, "body fixes": 0, "body breaks": 0, "both right": 0, "both wrong": 0}
    unreviewed = []
    for pid, title, t, b in zip(frame["id"], frame["title"], title_codes, body_codes):
        if t == b:
            continue
        counts["differ"] += 1
        missing = [(pid, title, c) for c in (t, b) if (pid, c) not in review]
        if missing:
            unreviewed += missing
            continue
        counts[OUTCOME[(review[(pid, t)], review[(pid, b)])]] += 1
    decided = counts["body fixes"] + counts["body breaks"]
    counts["sign test p"] = round(binomtest(counts["body fixes"], decided).pvalue, 4) if decided else float("nan")
    counts["unreviewed pairs"] = len(unreviewed)
    return {"counts": counts, "unreviewed": unreviewed}


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from throughput import champion_path

    from jobclass.model.bundle import load_bundle

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], help="default: the bundle's setting")
    parser.add_argument("--duty-gate", type=float, help="the body's min_duty_score; default: the bundle's setting")
    args = parser.parse_args()
    classifier = load_bundle(args.model or champion_path(), backend=args.backend)
    if args.duty_gate is not None:
        classifier.settings.min_duty_score = args.duty_gate
    frame = distinct_postings()
    reviewed = pd.read_csv(REVIEW, dtype=str)
    review = {(p, c): ok == "1" for p, c, ok in zip(reviewed["posting_id"], reviewed["code"], reviewed["correct"])}
    print(f"{classifier.version} ({classifier.settings.encoder_backend}), {len(frame)} distinct USAJOBS titles, "
          f"{len(review)} reviewed (posting, code) pairs")
    title_codes, _ = top1(classifier, frame, with_body=False)
    ungated = dataclasses.replace(classifier, settings=dataclasses.replace(classifier.settings, min_duty_score=0.0))
    for name, model in (
        (f"title + body, duty gate {classifier.settings.min_duty_score:g}", classifier),
        ("title + body, no duty gate", ungated),
    ):
        body_codes, has_body = top1(model, frame, with_body=True)
        result = compare(frame, title_codes, body_codes, review)
        print(f"\n{name}: body read for {has_body.mean():.1%} of postings")
        print("  " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()))
        for pid, title, code in result["unreviewed"]:
            print(f"  unreviewed: {pid} {code} ({title})")


if __name__ == "__main__":
    main()
