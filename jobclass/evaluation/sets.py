"""The frozen evaluation sets, by name: reported-titles, composed-postings, ad-titles, real-postings."""

from __future__ import annotations

import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark
from jobclass.evaluation.composed import ad_titles, composed_postings
from jobclass.evaluation.real_postings import real_postings
from jobclass.onet.taxonomy import Taxonomy

#: Every frozen benchmark, by name (``jobclass evaluate --benchmark``).
BENCHMARK_NAMES = ("reported-titles", "composed-postings", "ad-titles", "real-postings")


def reported_titles(taxonomy: Taxonomy) -> Benchmark:
    """O*NET's Sample of Reported Titles: 7,796 worker-reported titles over 901 codes."""
    rep = taxonomy.reported_titles
    frame = pd.DataFrame({"title": rep["reported_title"], "body": "", "code": rep["code"]})
    return make_benchmark("reported-titles", frame)


def load_benchmark(name: str, taxonomy: Taxonomy) -> Benchmark:
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
    return reported_titles(taxonomy).title_keys | composed_postings(taxonomy).title_keys
