"""The "real-postings" benchmark: vendored USAJOBS postings, coded by hand (see its README).

Each row is read as the nightly reads it: the record goes through :func:`jobclass.postings.rows.posting_row`
(title; job summary + major duties as the body). A hash-drawn share of rows is presented
*untitled*: the title field holds the first sentence of the summary, as a scraped posting often
arrives. The code does not change; it belongs to the posting.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark, read_keyed_csv
from jobclass.hashing import bucket
from jobclass.model.cleaning import repair_text, split_sentences
from jobclass.onet.taxonomy import Taxonomy
from jobclass.paths import DEMO_POSTINGS, RESOURCES_DIR
from jobclass.postings.files import read_postings_file
from jobclass.postings.rows import posting_row

NAME = "real-postings"
LABELS_PATH = RESOURCES_DIR / "real_postings" / "labels.csv"
#: The other 451 vendored postings, hand-coded under the same protocol: the whole-stream gold of
#: benchmarks/stream.py. Like labels.csv, never trained on.
STREAM_LABELS_PATH = RESOURCES_DIR / "real_postings" / "labels_stream.csv"
#: A code of ``none``: the posting describes no occupation (the row's note says why); left out of
#: the accuracy figures, and a posting that the simulated reviewer marks not codable.
NOT_CODABLE = "none"
#: Percent of rows whose title field holds the summary's first sentence instead of a title.
UNTITLED_PERCENT = 15
#: The content hash of the frozen set (labels.csv + the vendored postings); a test holds it. Re-frozen
#: on 2026-12-07 (issue 27): three FAA public notices marked not codable, four rows re-adjudicated,
#: cross-group also_ok codes given a reason or removed (was sha256:9a4621126b4c...).
FROZEN_HASH = "sha256:cbd8f2b7761ba0ab13c165bc4d525fed652c8456455173da67a424db2725bd34"
LABEL_COLUMNS = ["posting_id", "code", "also_ok", "confidence", "coder", "note"]


def is_untitled_form(posting_id: str) -> bool:
    return bucket(f"untitled:{posting_id}") < UNTITLED_PERCENT


@lru_cache(maxsize=1)
def _demo_postings() -> pd.DataFrame:
    """The vendored postings as ``job_postings`` rows (id, title, body), the way they are loaded."""
    rows = [posting_row(record, default_source="usajobs", ingested_at="") for record in read_postings_file(DEMO_POSTINGS)]
    frame = pd.DataFrame([r for r in rows if r is not None], columns=["id", "title", "body"])
    return frame.set_index("id")


def read_labels(path=LABELS_PATH) -> pd.DataFrame:
    """The coders' labels: one row per posting, ``also_ok`` as ``;``-separated codes."""
    return read_keyed_csv(path, LABEL_COLUMNS, "posting_id")


def stream_labels() -> pd.DataFrame:
    """Gold for all 793 vendored postings: the frozen benchmark's rows, then the stream file's."""
    return pd.concat([read_labels(LABELS_PATH), read_labels(STREAM_LABELS_PATH)], ignore_index=True)


@lru_cache(maxsize=1)
def benchmark_posting_ids() -> frozenset[str]:
    """The posting ids of both hand-coded files: never trained on (the retrain skips their labels)."""
    return frozenset(stream_labels()["posting_id"])


def untitled_title(body: str, min_words: int = 5) -> str:
    """What a title-less posting carries in its title field: the body's first sentence (joined with
    the next while shorter than ``min_words``, so that "The U.S. Department ..." stays whole)."""
    first: list[str] = []
    for sentence in split_sentences(repair_text(body)):
        first.append(sentence)
        if len(" ".join(first).split()) >= min_words:
            break
    return " ".join(first)


def real_postings(taxonomy: Taxonomy) -> Benchmark:
    """The frozen benchmark (the rows coded ``none``, which describe no occupation, left out); raises
    when a label names an unknown code or posting."""
    labels = read_labels()
    labels = labels[labels["code"] != NOT_CODABLE].reset_index(drop=True)  # no occupation to score against
    postings = _demo_postings()
    unknown_ids = sorted(set(labels["posting_id"]) - set(postings.index))
    if unknown_ids:
        raise ValueError(f"{LABELS_PATH}: posting ids not in the vendored postings: {unknown_ids[:5]}")
    valid = set(taxonomy.codes)
    for column in ("code", "also_ok"):
        codes = labels[column].str.split(";").explode().str.strip()
        bad = sorted(set(codes[codes != ""]) - valid)
        if bad:
            raise ValueError(f"{LABELS_PATH}: {column} holds codes that are not O*NET-SOC 2019: {bad[:5]}")
    texts = postings.loc[labels["posting_id"]]
    untitled = labels["posting_id"].map(is_untitled_form).to_numpy()
    bodies = texts["body"].fillna("").to_numpy()
    titles = [untitled_title(b) if u else t for t, b, u in zip(texts["title"].fillna(""), bodies, untitled)]
    frame = pd.DataFrame(
        {
            "title": titles,
            "body": bodies,
            "code": labels["code"].to_numpy(),
            "also_ok": labels["also_ok"].to_numpy(),
            "form": ["untitled" if u else "titled" for u in untitled],
            "confidence": labels["confidence"].to_numpy(),
            "posting_id": labels["posting_id"].to_numpy(),
        }
    )
    return make_benchmark(NAME, frame)
