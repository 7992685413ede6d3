"""Build jobclass/resources/titles/ from the public title data in ../shared/data.

    .venv/bin/python scripts/build_title_sources.py [--data ../shared/data] [--out jobclass/resources/titles]

Reads titles/{bls_dmtf,dol_h2,esco,usajobs_series}/ and usajobs_questionnaires/ and writes one
compact gzip CSV per source (see jobclass.training.title_sources), README.md with the row counts before and
after each filter, and NOTICE.md with each source's attribution and licence. Deterministic: the
same input gives byte-identical files (gzip without a timestamp, rows sorted).

Filters, in order: SOC codes mapped to O*NET-SOC 2019 codes (jobclass.training.title_sources.SocMapper;
a SOC 2010 code that SOC 2018 replaced is dropped: no crosswalk is vendored); titles equal to a
benchmark title, as written or as cleaned, removed (jobclass.training.title_sources.is_benchmark_title:
done again at load time); exact duplicates merged.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import io
import json
import re
from pathlib import Path

import pandas as pd

from jobclass.hashing import bucket
from jobclass.model.cleaning import is_duty_verb, normalize_title, repair_text, words
from jobclass.onet.taxonomy import load_taxonomy
from jobclass.paths import project_root
from jobclass.training.title_sources import (
    DROPPED,
    MAPPED,
    SOURCE_FILES,
    TITLES_DIR,
    SocMapper,
    benchmark_title_keys,
    drop_benchmark_titles,
    is_benchmark_title,
)

MAX_FILE_BYTES = 5_000_000
ITEMS_PER_TITLE = 5
# A questionnaire item is a duty when it opens with a task verb, has 4 to 60 words, asks nothing and
# says nothing of the applicant's education, experience, grade, licence or certification.
ITEM_WORDS = (4, 60)
GENERIC_ITEM = re.compile(
    r"\?|\b(you|your|applicants?|experience|education|degree|GS-?\d+|grade level|certif\w*|licens\w*|resume|"
    r"questionnaire|qualif\w*|knowledge, skills)\b",
    re.IGNORECASE,
)

NOTICE = """# Vendored title sources: attribution and licences

Derived, compact forms of public data, built by `scripts/build_title_sources.py` from the
project's shared data (each source's own NOTICE.md there gives the retrieval commits and
checksums). Row counts and filters: README.md beside this file. O*NET-SOC codes are from
O*NET 29.3 by USDOL/ETA (CC BY 4.0); O*NET(R) is a trademark of USDOL/ETA.

## dmtf.csv.gz: BLS SOC 2018 Direct Match Title File

U.S. Bureau of Labor Statistics, on behalf of OMB and the Standard Occupational Classification
Policy Committee, "2018 SOC Direct Match Title File" (November 2017, updated April 15, 2020),
https://www.bls.gov/soc/2018/home.htm#match. A work of the U.S. Federal Government: public domain
in the United States (17 U.S.C. 105); BLS requests citation as the source.
Changes: SOC 2018 codes mapped to O*NET-SOC 2019 codes; benchmark titles removed.

## dol_h2.csv.gz: employer job titles certified by the U.S. Department of Labor (H-2A / H-2B)

U.S. Department of Labor, Office of Foreign Labor Certification, H-2A and H-2B public disclosure
data, fiscal years 2011-2019. A work of the U.S. Federal Government: public domain in the United
States (17 U.S.C. 105). Retrieved through github.com/BuzzFeedNews/H-2-certification-data.
Changes: HTML entities decoded, whitespace collapsed; SOC codes mapped to O*NET-SOC 2019 codes
(SOC 2010 codes that SOC 2018 replaced dropped); benchmark titles removed.

## esco.csv.gz: ESCO occupation labels mapped to O*NET-SOC 2019

This dataset uses the ESCO classification of the European Commission.
ESCO occupations, English labels: (c) European Union, 2024, ESCO v1.2.0 (https://esco.ec.europa.eu/),
reused under the Creative Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/) per the Commission's reuse policy.
Crosswalk: "O*NET-SOC 2019 Crosswalks - European Skills, Competences, Qualifications and
Occupations (ESCO) to O*NET-SOC 2019", the official ESCO-O*NET crosswalk ("This publication uses
the ESCO classification of the European Commission. ESCO v1.1.0 used.").
Modified: labels split into one row per label and joined with the crosswalk (upstream); here one
row per (label, O*NET code), URIs dropped, benchmark titles removed.

## usajobs_series.csv.gz and questionnaires.csv.gz: USAJOBS

USAJOBS announcements and USA Staffing applicant questionnaires (U.S. Office of Personnel
Management). Works of the U.S. Federal Government: public domain in the United States
(17 U.S.C. 105); cite USAJOBS as the source. Retrieved through github.com/abigailhaddad/usajobs_historical.
Changes: titles with their OPM occupational series (posting counts dropped); for questionnaires,
up to 5 duty items per distinct position title (see README.md); benchmark titles removed.
"""


def write_csv_gz(frame: pd.DataFrame, path: Path) -> int:
    """Write ``frame`` as gzip CSV with no timestamp (reproducible bytes); the file's size."""
    data = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as fh:
        fh.write(data)
    path.write_bytes(buffer.getvalue())
    size = path.stat().st_size
    if size >= MAX_FILE_BYTES:
        raise SystemExit(f"{path} is {size:,} bytes: over the {MAX_FILE_BYTES:,}-byte limit for a tracked file")
    return size


def tidy(text: str) -> str:
    """Entities decoded (``&nbsp;``, ``&quot;``), mojibake repaired, whitespace collapsed."""
    return " ".join(repair_text(text).split())


class Counts:
    """Row counts after each step of each source, for README.md."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int]] = []

    def add(self, source: str, step: str, n: int) -> None:
        self.rows.append((source, step, n))
        print(f"{source:15} {step:60} {n:>8,}")

    def markdown(self) -> str:
        lines = ["| source | step | rows |", "| --- | --- | ---: |"]
        lines += [f"| {s} | {step} | {n:,} |" for s, step, n in self.rows]
        return "\n".join(lines)


def map_codes(frame: pd.DataFrame, column: str, mapper: SocMapper, source: str, counts: Counts) -> pd.DataFrame:
    """``frame`` with onet_code and weak from its SOC ``column``; dropped rows counted by reason."""
    mapped = [mapper.map(code, title) for code, title in zip(frame[column], frame["title"])]
    frame = frame.assign(onet_code=[c for c, _ in mapped], how=[h for _, h in mapped])
    for how in (*MAPPED, *DROPPED):
        counts.add(source, f"code: {how}", int((frame["how"] == how).sum()))
    frame = frame[frame["how"].isin(MAPPED)]
    return frame.assign(weak=(frame["how"] == "generic").astype(int))


def without_benchmarks(frame: pd.DataFrame, excluded: set[str], source: str, counts: Counts) -> pd.DataFrame:
    frame = drop_benchmark_titles(frame, excluded)
    counts.add(source, "after removing benchmark titles", len(frame))
    return frame


def build_dmtf(data: Path, mapper: SocMapper, excluded: set[str], counts: Counts) -> pd.DataFrame:
    frame = pd.read_csv(data / "titles/bls_dmtf/direct_match_titles.csv", dtype=str, keep_default_na=False)
    counts.add("dmtf", "read", len(frame))
    frame = map_codes(frame.assign(title=frame["title"].map(tidy)), "soc2018", mapper, "dmtf", counts)
    frame = without_benchmarks(frame, excluded, "dmtf", counts)
    frame = frame[["title", "onet_code", "weak"]].drop_duplicates().sort_values(["title", "onet_code"])
    counts.add("dmtf", "written (distinct title, code)", len(frame))
    return frame


def build_dol_h2(data: Path, mapper: SocMapper, excluded: set[str], counts: Counts) -> pd.DataFrame:
    frame = pd.read_csv(data / "titles/dol_h2/h2_title_soc.csv", dtype=str, keep_default_na=False)
    counts.add("dol_h2", "read", len(frame))
    frame = frame.assign(title=frame["title"].map(tidy), cases=frame["cases"].astype(int))
    frame = frame[frame["title"] != ""]
    frame = map_codes(frame, "soc2010_or_2018", mapper, "dol_h2", counts)
    frame = without_benchmarks(frame, excluded, "dol_h2", counts)
    frame = frame.groupby(["title", "onet_code", "weak"], as_index=False)["cases"].sum().sort_values(["title", "onet_code"])
    counts.add("dol_h2", "written (distinct title, code; cases summed)", len(frame))
    return frame[["title", "onet_code", "weak", "cases"]]


def build_esco(data: Path, excluded: set[str], counts: Counts) -> pd.DataFrame:
    """One row per (label, O*NET code): a label of an ESCO occupation that maps to several codes
    gives a row for each, flagged weak."""
    frame = pd.read_csv(data / "titles/esco/esco_onet_titles.csv", dtype=str, keep_default_na=False)
    counts.add("esco", "read", len(frame))
    counts.add("esco", "of them 1:1 (one O*NET code)", int((frame["mapping"] == "1:1").sum()))
    frame = frame.assign(title=frame["title"].map(tidy), onet_code=frame["onet_code"].str.split(";")).explode("onet_code")
    frame = frame.assign(weak=(frame["mapping"] != "1:1").astype(int))
    counts.add("esco", "rows, one per (label, code)", len(frame))
    frame = without_benchmarks(frame, excluded, "esco", counts)
    frame = frame[["title", "onet_code", "weak", "label_kind"]].drop_duplicates(["title", "onet_code"])
    frame = frame.sort_values(["title", "onet_code"])
    counts.add("esco", "written (distinct title, code)", len(frame))
    counts.add("esco", "of them weak (n:m)", int(frame["weak"].sum()))
    return frame


def build_series(data: Path, excluded: set[str], counts: Counts) -> pd.DataFrame:
    frame = pd.read_csv(data / "titles/usajobs_series/title_series.csv", dtype=str, keep_default_na=False)
    counts.add("usajobs_series", "read", len(frame))
    frame = frame.assign(title=frame["title"].map(tidy)).rename(columns={"occupation_series": "series"})
    frame = without_benchmarks(frame[frame["title"] != ""], excluded, "usajobs_series", counts)
    frame = frame[["title", "series", "series_title"]].drop_duplicates(["title", "series"]).sort_values(["series", "title"])
    counts.add("usajobs_series", "written (distinct title, series)", len(frame))
    return frame


def is_duty_item(item: str) -> bool:
    """See :data:`GENERIC_ITEM`: a task-verb opening, a sensible length, no applicant question."""
    tokens = words(item, drop_stop_words=False)
    return ITEM_WORDS[0] <= len(tokens) <= ITEM_WORDS[1] and is_duty_verb(tokens[0]) and not GENERIC_ITEM.search(item)


def build_questionnaires(data: Path, excluded: set[str], counts: Counts) -> pd.DataFrame:
    """Up to :data:`ITEMS_PER_TITLE` duty items per distinct title (by normalised key): the items
    most of that title's questionnaires carry, ties broken by a hash; the title's most common spelling."""
    with gzip.open(data / "usajobs_questionnaires/questionnaires.jsonl.gz", "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    counts.add("questionnaires", "questionnaires read", len(records))
    spellings: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    items: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    n_items = n_duties = 0
    for record in records:
        title = tidy(record.get("position_title") or "")
        key = normalize_title(title)
        if not key:
            continue
        spellings[key][title] += 1
        for item in dict.fromkeys(tidy(i) for i in record.get("assessment_items") or []):
            n_items += 1
            if is_duty_item(item):
                n_duties += 1
                items[key][item] += 1
    counts.add("questionnaires", "distinct titles (normalised)", len(spellings))
    counts.add("questionnaires", "items read", n_items)
    counts.add("questionnaires", "items that read as duties", n_duties)
    counts.add("questionnaires", "titles with a duty item", len(items))
    kept = {k: v for k, v in items.items() if not any(is_benchmark_title(t, excluded) for t in spellings[k])}
    counts.add("questionnaires", "titles after removing benchmark titles", len(kept))
    rows = []
    for key, counter in sorted(kept.items()):
        title = min(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0]
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], bucket(f"item:{kv[0]}", 1 << 30)))
        rows += [(title, item) for item, _ in ranked[:ITEMS_PER_TITLE]]
    frame = pd.DataFrame(rows, columns=["title", "item"])
    counts.add("questionnaires", f"written (title, item) rows, <= {ITEMS_PER_TITLE} per title", len(frame))
    return frame


def dropped_soc_report(data: Path, mapper: SocMapper) -> str:
    """The SOC 2010 codes of dol_h2 that no SOC 2018 code matches, by certified cases."""
    frame = pd.read_csv(data / "titles/dol_h2/h2_title_soc.csv", dtype=str, keep_default_na=False)
    how = [mapper.map(code, title)[1] for code, title in zip(frame["soc2010_or_2018"], frame["title"])]
    lost = frame[[h == "not_in_2018" for h in how]]
    table = lost.assign(cases=lost["cases"].astype(int), soc=lost["soc2010_or_2018"].map(lambda c: c.strip()[:7]))
    table = table.assign(soc=table["soc"].map(lambda c: c if "-" in c else f"{c[:2]}-{c[2:6]}"))
    top = table.groupby("soc").agg(rows=("title", "size"), cases=("cases", "sum")).sort_values("cases", ascending=False)
    lines = ["| SOC 2010 code | rows | cases |", "| --- | ---: | ---: |"]
    lines += [f"| {soc} | {r.rows:,} | {r.cases:,} |" for soc, r in top.head(10).iterrows()]
    return "\n".join(lines) + f"\n\n{len(top)} codes in all, {len(lost):,} rows, {int(table['cases'].sum()):,} cases."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=project_root().parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=TITLES_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    taxonomy = load_taxonomy()
    mapper = SocMapper.from_taxonomy(taxonomy)
    excluded = benchmark_title_keys(taxonomy)
    print(f"{len(excluded):,} benchmark title keys excluded")
    counts = Counts()
    frames = {
        "dmtf": build_dmtf(args.data, mapper, excluded, counts),
        "dol_h2": build_dol_h2(args.data, mapper, excluded, counts),
        "esco": build_esco(args.data, excluded, counts),
        "usajobs_series": build_series(args.data, excluded, counts),
        "questionnaires": build_questionnaires(args.data, excluded, counts),
    }
    sizes = {name: write_csv_gz(frame, args.out / SOURCE_FILES[name]) for name, frame in frames.items()}
    files = "\n".join(f"| {SOURCE_FILES[n]} | {len(frames[n]):,} | {sizes[n]:,} |" for n in frames)
    readme = README.format(
        excluded=len(excluded), counts=counts.markdown(), files=files, dropped=dropped_soc_report(args.data, mapper),
        items=ITEMS_PER_TITLE, low=ITEM_WORDS[0], high=ITEM_WORDS[1], generic=GENERIC_ITEM.pattern,
    )
    (args.out / "README.md").write_text(readme, encoding="utf-8")
    (args.out / "NOTICE.md").write_text(NOTICE, encoding="utf-8")
    for name, size in sizes.items():
        print(f"{SOURCE_FILES[name]}: {len(frames[name]):,} rows, {size:,} bytes")


README = """# Extra title sources (derived; built by `scripts/build_title_sources.py`)

Optional training signals, loaded by `jobclass.training.title_sources` and switched on by
`TrainConfig.extra_title_sources` (labelled titles) or `TrainConfig.finetune_pair_sources`
(fine-tuning pairs). Attribution and licences: NOTICE.md. Rebuild with
`.venv/bin/python scripts/build_title_sources.py` (reads `../shared/data`; deterministic).

| file | rows | bytes |
| --- | ---: | ---: |
{files}

Columns:
- `dmtf.csv.gz`: title, onet_code, weak;
- `dol_h2.csv.gz`: title, onet_code, weak, cases (certifications with that pair);
- `esco.csv.gz`: title, onet_code, weak, label_kind (preferred or alternative ESCO label);
- `usajobs_series.csv.gz`: title, series (4-digit OPM occupational series, as text), series_title;
- `questionnaires.csv.gz`: title, item (a duty item of that position's questionnaires).

## How codes were mapped

A SOC code maps to an O*NET-SOC 2019 code (`jobclass.training.title_sources.SocMapper`): an O*NET-SOC code
that the taxonomy holds is kept as given (`onet`); a 6-digit SOC code with one O*NET code takes it
(`unique`); one that O*NET splits takes the code whose O*NET official or alternate title the title
is, where exactly one is (`title`), else its XX-XXXX.00 code flagged `weak=1` (`generic`), else
the row is dropped (`ambiguous`). A SOC 2010 code that SOC 2018 replaced (`not_in_2018`) is dropped:
no SOC 2010 to 2018 crosswalk was found offline (not in the shared data; no PyPI package ships one).
ESCO: a label of an ESCO occupation that the crosswalk maps to one O*NET code gives one row
(`weak=0`); one that maps to several (n:m) gives a row per code, flagged `weak=1`. Weak rows are
loaded only on request (`TrainConfig.extra_titles_weak`).

## Overlap with the benchmarks

A title is removed when its `jobclass.model.cleaning.normalize_title` key, as written or as a
classifier cleans it (`clean_title`: "Cook II" and "Cook (Seasonal)" read as "cook"), equals a
benchmark title's, as written or cleaned ({excluded:,} keys at build time: reported-titles,
composed-postings, the real-postings benchmark and the titles of all 793 vendored USAJOBS
postings). `jobclass.training.title_sources` removes them again at load time, against the benchmarks of
the running code.

## Questionnaire items

An item is kept when it reads as a duty: it opens with a task verb (`jobclass.model.cleaning.is_duty_verb`,
so "Prepare", "Prepares" and "Preparing"), has {low} to {high} words and does not match
`{generic}` (questions to the applicant, education, experience, grade, licence). Per distinct
title (normalised), up to {items} items are kept: those most of its questionnaires carry, ties
broken by a hash.

## Row counts

{counts}

## dol_h2: SOC 2010 codes dropped (the ten with most certified cases)

{dropped}
"""


if __name__ == "__main__":
    main()
