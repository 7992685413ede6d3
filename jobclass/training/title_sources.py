"""Extra title sources: optional training signals from public data, vendored in a compact form.

``jobclass/resources/titles/`` (built by ``scripts/build_title_sources.py``; sources and licences
in its NOTICE.md, row counts in its README.md) holds:

- labelled titles, a title with an O*NET-SOC 2019 code: ``dmtf`` (BLS Direct Match Titles),
  ``dol_h2`` (employer job titles certified by the US Department of Labor), ``esco`` (ESCO
  labels through the official ESCO to O*NET crosswalk). Rows flagged ``weak`` carry one of
  several candidate codes (an ESCO occupation that maps to several, or a SOC code that O*NET
  splits and the title does not settle): they load only when asked for;
- unlabelled pairs: ``questionnaires`` (a federal position title with duty items from its
  applicant questionnaires) and ``usajobs_series`` (a federal title with its OPM occupational
  series: titles of one series are related, a weak signal and no label).

Each source is a training signal to keep only if it helps on held-out real postings (see
``benchmarks/ablation_signals.py``). Every title equal to a benchmark title, as written or as a
classifier cleans it (see :func:`title_keys`), is removed when a source is loaded, whatever the
vendored file holds; so is every title of the commercial-titles benchmark, a held-out slice of
``dol_h2`` (see :mod:`jobclass.evaluation.commercial_titles`), from every source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from jobclass.evaluation.commercial_titles import commercial_titles_list
from jobclass.evaluation.sets import excluded_titles, load_benchmark
from jobclass.hashing import bucket
from jobclass.model.cleaning import clean_body, clean_title, normalize_title
from jobclass.onet.taxonomy import Taxonomy
from jobclass.paths import DEMO_POSTINGS, RESOURCES_DIR
from jobclass.postings.files import read_postings_file

log = logging.getLogger(__name__)

TITLES_DIR = RESOURCES_DIR / "titles"
LABELLED_SOURCES = ("dmtf", "dol_h2", "esco")
PAIR_SOURCES = ("questionnaires", "usajobs_series")
SOURCE_FILES = {name: f"{name}.csv.gz" for name in (*LABELLED_SOURCES, *PAIR_SOURCES)}
LABELLED_COLUMNS = ["title", "onet_code", "source", "weak"]

# How a source's SOC code became an O*NET-SOC code (see SocMapper.map); "generic" rows are weak.
MAPPED = ("onet", "unique", "title", "generic")
DROPPED = ("ambiguous", "not_in_2018", "unparsable")

_SOC = re.compile(r"^\s*(\d{2})-?(\d{4})(?:\.(\d{1,2}))?\s*$")


def parse_soc(raw: str) -> tuple[str, str] | None:
    """``(6-digit SOC, O*NET suffix)`` of a code as the sources write it, or None.

    ``37-3011``, ``373011`` and ``373011.0`` (a spreadsheet's float) give ``("37-3011", "")``;
    ``47-2152.01`` gives ``("47-2152", "01")``.
    """
    match = _SOC.match(raw or "")
    if not match:
        return None
    suffix = match[3] if match[3] and len(match[3]) == 2 else ""
    return f"{match[1]}-{match[2]}", suffix


@dataclass(frozen=True)
class SocMapper:
    """Maps a SOC (2018, or 2010 where unchanged) or O*NET-SOC code to one O*NET-SOC 2019 code.

    O*NET splits some SOC codes into several occupations (53-7062 into .00 and .04), so a SOC
    code alone names an O*NET code only where the taxonomy holds one for it.
    """

    codes_by_soc6: dict[str, tuple[str, ...]]
    codes_by_title: dict[str, frozenset[str]]  # normalised O*NET official/alternate title -> codes

    @classmethod
    def from_taxonomy(cls, taxonomy: Taxonomy) -> SocMapper:
        by_soc6: dict[str, list[str]] = {}
        for code in taxonomy.codes:
            by_soc6.setdefault(code[:7], []).append(code)
        titles = pd.concat(
            [
                pd.DataFrame({"title": taxonomy.occupations["title"], "code": taxonomy.occupations["code"]}),
                pd.DataFrame({"title": taxonomy.alternate_titles["alternate_title"], "code": taxonomy.alternate_titles["code"]}),
            ]
        )
        keys = titles.assign(key=titles["title"].map(normalize_title)).groupby("key")["code"].agg(frozenset)
        return cls(codes_by_soc6={k: tuple(v) for k, v in by_soc6.items()}, codes_by_title=keys.to_dict())

    def map(self, raw_code: str, title: str) -> tuple[str, str]:
        """``(onet_code, how)``; ``onet_code`` is "" when the row is dropped.

        ``how``: ``onet`` (an O*NET-SOC code of the taxonomy as given), ``unique`` (the SOC code has
        one O*NET code), ``title`` (the title is an O*NET title of exactly one of the SOC code's
        O*NET codes), ``generic`` (several codes, none settled: the SOC code's XX-XXXX.00 code, a
        weak label); dropped: ``ambiguous`` (several codes and no .00), ``not_in_2018`` (a SOC
        2010 code that SOC 2018 replaced; no crosswalk is vendored), ``unparsable``.
        """
        parsed = parse_soc(raw_code)
        if parsed is None:
            return "", "unparsable"
        soc6, suffix = parsed
        candidates = self.codes_by_soc6.get(soc6, ())
        if suffix and f"{soc6}.{suffix}" in candidates:
            return f"{soc6}.{suffix}", "onet"
        if not candidates:
            return "", "not_in_2018"
        if len(candidates) == 1:
            return candidates[0], "unique"
        named = self.codes_by_title.get(normalize_title(title), frozenset()) & set(candidates)
        if len(named) == 1:
            return next(iter(named)), "title"
        if f"{soc6}.00" in candidates:
            return f"{soc6}.00", "generic"
        return "", "ambiguous"


# -- overlap with the benchmarks ----------------------------------------------------------------
def title_keys(title: str) -> set[str]:
    """The comparison keys of ``title`` (:func:`normalize_title`) as written and as a classifier
    cleans it (:func:`clean_title`): "Cook II" is read as "cook", a reported title."""
    return {normalize_title(title), normalize_title(clean_title(title))} - {""}


def is_benchmark_title(title: str, excluded: set[str]) -> bool:
    return not title_keys(title).isdisjoint(excluded)


def posting_titles() -> list[str]:
    """The titles of every vendored USAJOBS posting (the real-postings benchmark draws from them)."""
    return [record.get("title") or "" for record in read_postings_file(DEMO_POSTINGS)]


def benchmark_title_keys(taxonomy: Taxonomy) -> set[str]:
    """The keys (see :func:`title_keys`) of every benchmark title: never trained on.

    The frozen sets' (those of :func:`jobclass.evaluation.sets.excluded_titles`), the real-postings
    benchmark's (its untitled rows too) and, stricter, those of all the vendored postings it draws from.
    """
    titles = [*posting_titles()]
    for name in ("reported-titles", "composed-postings", "real-postings"):
        try:
            titles += load_benchmark(name, taxonomy).frame["title"].tolist()
        except (ValueError, FileNotFoundError, ImportError) as exc:  # real-postings before its labels: the postings cover it
            log.info("benchmark %s not loadable (%s): its titles are not excluded", name, exc)
    return excluded_titles(taxonomy).union(*map(title_keys, titles))


@lru_cache(maxsize=1)
def held_out_title_keys() -> frozenset[str]:
    """The keys (see :func:`title_keys`) of the commercial-titles benchmark's titles, a held-out slice
    of ``dol_h2``: no source loads them (the slice's builder reads the vendored file as stored)."""
    return frozenset().union(*map(title_keys, commercial_titles_list()))


def drop_benchmark_titles(frame: pd.DataFrame, excluded: set[str], column: str = "title") -> pd.DataFrame:
    """``frame`` without the rows whose ``column`` is a benchmark title (:func:`is_benchmark_title`)."""
    keep = ~frame[column].map(lambda title: is_benchmark_title(title, excluded)).astype(bool)
    return frame[keep].reset_index(drop=True)


# -- the vendored files -------------------------------------------------------------------------
@lru_cache(maxsize=len(SOURCE_FILES))
def _read_vendored(name: str) -> pd.DataFrame:
    if name not in SOURCE_FILES:
        raise ValueError(f"unknown title source {name!r}; choose one of {sorted(SOURCE_FILES)}")
    return pd.read_csv(TITLES_DIR / SOURCE_FILES[name], dtype=str, keep_default_na=False)


def read_source(name: str, excluded: set[str]) -> pd.DataFrame:
    """A vendored source as stored, less the rows whose title is in ``excluded`` or is a
    commercial-titles benchmark title (:func:`held_out_title_keys`, whatever ``excluded`` holds)."""
    return drop_benchmark_titles(_read_vendored(name), set(excluded) | held_out_title_keys())


def labelled_titles(names: Iterable[str], excluded: set[str], include_weak: bool = False) -> pd.DataFrame:
    """Titles with an O*NET-SOC code from the labelled sources ``names``: columns
    :data:`LABELLED_COLUMNS`, one row per distinct (source, title, code), benchmark titles removed."""
    parts = []
    for name in names:
        if name not in LABELLED_SOURCES:
            raise ValueError(f"{name!r} is not a labelled title source; choose from {LABELLED_SOURCES}")
        frame = read_source(name, excluded)
        frame = frame.assign(source=name, weak=frame["weak"].astype(int).astype(bool))
        parts.append(frame if include_weak else frame[~frame["weak"]])
    if not parts:
        return pd.DataFrame(columns=LABELLED_COLUMNS)
    return pd.concat(parts, ignore_index=True)[LABELLED_COLUMNS].drop_duplicates(["source", "title", "onet_code"])


def questionnaire_pairs(excluded: set[str], max_items: int | None = None) -> pd.DataFrame:
    """(title, item) rows: a federal position title and a duty item of its questionnaires.

    ``max_items`` keeps at most that many items per title (the file holds up to 5, most common first).
    """
    frame = read_source("questionnaires", excluded)
    if max_items is not None:
        frame = frame.groupby("title", sort=False).head(max_items)
    return frame[["title", "item"]].reset_index(drop=True)


def same_series_pairs(excluded: set[str], max_per_series: int = 50) -> pd.DataFrame:
    """(anchor, positive, series) rows: two federal titles of one OPM occupational series.

    Each title is paired with one other title of its series (hash-chosen), and at most
    ``max_per_series`` titles of a series are anchors, so that a large series (2210, IT
    Management) does not swamp the rest. Series with a single title give no pair.
    """
    frame = read_source("usajobs_series", excluded)
    frame = frame.assign(_k=frame["title"].map(lambda t: bucket(f"series:{t}", 1 << 30))).sort_values(["series", "_k"])
    rows = []
    for series, group in frame.groupby("series", sort=True):
        titles = group["title"].tolist()
        if len(titles) < 2:
            continue
        for i, title in enumerate(titles[:max_per_series]):
            other = titles[(i + 1 + bucket(f"pos:{title}", len(titles) - 1)) % len(titles)]
            rows.append((title, other, series))
    return pd.DataFrame(rows, columns=["anchor", "positive", "series"])


def fine_tuning_pairs(names: Iterable[str], excluded: set[str], seed: int = 0) -> pd.DataFrame:
    """(anchor, positive) rows for MNRL from the pair sources ``names``, cleaned as queries are.

    ``questionnaires``: a duty item (as a posting body is read) and its position title;
    ``usajobs_series``: a federal title and another of its series (see :func:`same_series_pairs`).
    Shuffled with ``seed``; a pair repeated across sources is kept once.
    """
    parts = []
    for name in names:
        if name == "questionnaires":
            frame = questionnaire_pairs(excluded)
            anchors, positives = frame["item"].map(lambda t: clean_body(t, 10_000)), frame["title"].map(clean_title)
        elif name == "usajobs_series":
            frame = same_series_pairs(excluded)
            anchors, positives = frame["anchor"].map(clean_title), frame["positive"].map(clean_title)
        else:
            raise ValueError(f"{name!r} is not a pair source; choose from {PAIR_SOURCES}")
        parts.append(pd.DataFrame({"anchor": anchors.to_numpy(), "positive": positives.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["anchor", "positive"])
    pairs = pd.concat(parts, ignore_index=True)
    pairs = pairs[(pairs["anchor"] != "") & (pairs["positive"] != "") & (pairs["anchor"] != pairs["positive"])]
    return pairs.drop_duplicates().sample(frac=1.0, random_state=seed).reset_index(drop=True)
