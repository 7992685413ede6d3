"""Frozen evaluation sets. Each carries a content hash that is stored with every result."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from jobclass.cleaning import normalize_title
from jobclass.hashing import frame_hash
from jobclass.taxonomy import Taxonomy

BENCHMARK_COLUMNS = ["title", "body", "code"]
#: Optional columns a benchmark may carry: codes as defensible as ``code`` (lenient accuracy), the
#: posting's form (``titled`` or ``untitled``), the coder's confidence and the posting id.
OPTIONAL_COLUMNS = ["also_ok", "form", "confidence", "posting_id"]
#: Every frozen benchmark, by name (``jobclass evaluate --benchmark``).
BENCHMARK_NAMES = ("reported-titles", "composed-postings", "ad-titles", "real-postings")


@dataclass(frozen=True)
class Benchmark:
    name: str
    frame: pd.DataFrame  # title, body, code (+ the optional columns)
    content_hash: str

    @property
    def title_keys(self) -> set[str]:
        """Normalised titles that must never be trained on or indexed."""
        return set(self.frame["title"].map(normalize_title))

    def __len__(self) -> int:
        return len(self.frame)


def make_benchmark(name: str, frame: pd.DataFrame) -> Benchmark:
    """A benchmark over ``frame``; the hash covers title, body, code (and ``also_ok`` when present)."""
    columns = BENCHMARK_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]
    frame = frame[columns].reset_index(drop=True)
    hashed = BENCHMARK_COLUMNS + (["also_ok"] if "also_ok" in frame.columns else [])
    return Benchmark(name=name, frame=frame, content_hash=frame_hash(frame, hashed))


def reported_titles(taxonomy: Taxonomy) -> Benchmark:
    """O*NET's Sample of Reported Titles: 7,796 worker-reported titles over 901 codes."""
    rep = taxonomy.reported_titles
    frame = pd.DataFrame({"title": rep["reported_title"], "body": "", "code": rep["code"]})
    return make_benchmark("reported-titles", frame)


def load_benchmark(name: str, taxonomy: Taxonomy) -> Benchmark:
    from jobclass.composed import ad_titles, composed_postings
    from jobclass.real_postings import real_postings

    builders = {
        "reported-titles": reported_titles,
        "composed-postings": composed_postings,
        "ad-titles": ad_titles,
        "real-postings": real_postings,
    }
    if name not in builders:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {sorted(builders)}")
    return builders[name](taxonomy)


def excluded_titles(taxonomy: Taxonomy) -> set[str]:
    """Titles of every frozen benchmark: kept out of training and of the index."""
    from jobclass.composed import composed_postings

    return reported_titles(taxonomy).title_keys | composed_postings(taxonomy).title_keys
