"""Build jobclass/resources/commercial_titles/: a held-out slice of DOL's H-2 titles, a benchmark.

    .venv/bin/python scripts/build_commercial_titles.py [--cap 100] [--out jobclass/resources/commercial_titles]

Reads the vendored ``jobclass/resources/titles/dol_h2.csv.gz`` as stored (employer titles with the
SOC code the Department of Labor certified, mapped to O*NET-SOC 2019 by scripts/build_title_sources.py)
and writes commercial_titles.csv, README.md (filters, counts per major group) and NOTICE.md.
Deterministic: the same input gives the same bytes (rows drawn by a hash, sorted).

Steps, in order:
1. rows flagged ``weak`` (a SOC code that O*NET splits and the title does not settle) dropped;
2. each row keyed by its normalised title as a classifier cleans it
   (``normalize_title(clean_title(title))``; "Cook II" and "COOK (seasonal)" share "cook");
3. rows whose title, as written or cleaned (``title_sources.title_keys``), equals an O*NET title of
   the taxonomy (official, alternate or short: every model's training corpus holds them) or a
   benchmark title (``title_sources.benchmark_title_keys``) dropped;
4. one row per key: the 6-digit SOC code with most certifications (keys whose top two tie dropped),
   its O*NET code with most certifications, and its most certified spelling;
5. per SOC major group, at most ``--cap`` keys and at most half the group's keys (so that at least
   half stay for training), drawn in the order of a hash of the key.

The slice is removed from every training source at load time (jobclass.training.title_sources).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from jobclass.evaluation.commercial_titles import SLICE_COLUMNS, SLICE_DIR, SLICE_PATH, major_group, soc6
from jobclass.hashing import bucket
from jobclass.model.cleaning import clean_title, normalize_title
from jobclass.onet.taxonomy import MAJOR_GROUP_NAMES, Taxonomy, load_taxonomy
from jobclass.training.title_sources import SOURCE_FILES, TITLES_DIR, benchmark_title_keys, title_keys

DEFAULT_CAP = 100
#: At most this share of a major group's distinct titles is held out; the rest stay for training.
MAX_HELD_OUT_SHARE = 0.5


def read_dol_h2() -> pd.DataFrame:
    """The vendored dol_h2 source as stored (title, onet_code, weak, cases), no row removed."""
    frame = pd.read_csv(TITLES_DIR / SOURCE_FILES["dol_h2"], dtype=str, keep_default_na=False)
    return frame.assign(cases=frame["cases"].astype(int), weak=frame["weak"].astype(int).astype(bool))


def onet_title_keys(taxonomy: Taxonomy) -> set[str]:
    """The keys (``title_keys``) of every O*NET official, alternate and short title."""
    alt = taxonomy.alternate_titles
    titles = [*taxonomy.occupations["title"], *alt["alternate_title"], *alt["short_title"]]
    return set().union(*(title_keys(t) for t in titles if t))


def codes_per_soc6(taxonomy: Taxonomy) -> pd.Series:
    """How many O*NET-SOC codes the taxonomy holds under each 6-digit SOC code."""
    return pd.Series(taxonomy.codes).map(soc6).value_counts()


def slice_key(title: str) -> str:
    """The key that splits the source: the normalised title as a classifier cleans it."""
    return normalize_title(clean_title(title)) or normalize_title(title)


def most_cases(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per key, the values of ``column`` by summed cases, most first (ties: sort order), ranked from 0."""
    summed = frame.groupby(["key", column], as_index=False)["cases"].sum()
    summed = summed.sort_values(["key", "cases", column], ascending=[True, False, True], ignore_index=True)
    return summed.assign(rank=summed.groupby("key").cumcount())


def one_row_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Per key: the 6-digit SOC code with most cases (keys whose top two tie dropped), its O*NET
    code with most cases, its most certified spelling, the key's cases and the gold SOC code's share."""
    by_soc6 = most_cases(frame.assign(soc6=frame["onet_code"].map(soc6)), "soc6")
    top = by_soc6[by_soc6["rank"] == 0].set_index("key")
    runner_up = by_soc6[by_soc6["rank"] == 1].set_index("key")["cases"].reindex(top.index)
    total = by_soc6.groupby("key")["cases"].sum()
    top = top[runner_up.isna() | (runner_up < top["cases"])]
    rows = frame[frame["onet_code"].map(soc6) == frame["key"].map(top["soc6"])]
    code = most_cases(rows, "onet_code").query("rank == 0").set_index("key")["onet_code"]
    title = most_cases(rows, "title").query("rank == 0").set_index("key")["title"]
    keys = top.index
    return pd.DataFrame(
        {
            "key": keys,
            "title": title.reindex(keys).to_numpy(),
            "code": code.reindex(keys).to_numpy(),
            "cases": total.reindex(keys).to_numpy(),
            "share": (top["cases"] / total.reindex(keys)).round(3).to_numpy(),
        }
    )


def draw_slice(rows: pd.DataFrame, cap: int, max_share: float = MAX_HELD_OUT_SHARE) -> pd.DataFrame:
    """Per major group, the first ``min(cap, floor(max_share * keys))`` keys in hash order."""
    rows = rows.assign(
        major_group=rows["code"].map(major_group), _order=rows["key"].map(lambda k: bucket(f"commercial:{k}", 1 << 62))
    )
    rows = rows.sort_values(["major_group", "_order", "key"])
    quota = rows.groupby("major_group")["key"].transform(lambda keys: min(cap, int(len(keys) * max_share)))
    rank = rows.groupby("major_group").cumcount()
    drawn = rows[rank < quota].sort_values(["code", "title"]).reset_index(drop=True)
    return drawn.assign(id=[f"h2-{i:04d}" for i in range(1, len(drawn) + 1)]).drop(columns="_order")


def group_table(available: pd.DataFrame, drawn: pd.DataFrame, source: pd.DataFrame) -> str:
    """Markdown: per major group, the source's cases share, the distinct titles eligible and drawn."""
    cases = source.groupby(source["onet_code"].map(major_group))["cases"].sum()
    eligible = available["code"].map(major_group).value_counts()
    held = drawn["major_group"].value_counts()
    lines = [
        "| major group | name | certified cases (share) | eligible titles | held out | share of the slice |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for group in sorted(set(eligible.index) | set(cases.index)):
        n = int(held.get(group, 0))
        lines.append(
            f"| {group} | {MAJOR_GROUP_NAMES.get(group, '')} | {int(cases.get(group, 0)):,} ({cases.get(group, 0) / cases.sum():.1%}) "
            f"| {int(eligible.get(group, 0)):,} | {n:,} | {n / len(drawn):.1%} |"
        )
    lines.append(f"| all | | {int(cases.sum()):,} | {len(available):,} | {len(drawn):,} | 100% |")
    return "\n".join(lines)


def build(taxonomy: Taxonomy, cap: int) -> tuple[pd.DataFrame, list[tuple[str, int]], str]:
    """The slice, the row counts after each step, and the per-group table."""
    source = read_dol_h2()
    counts = [("dol_h2 rows (title, code) as vendored", len(source))]
    frame = source[~source["weak"]]
    counts.append(("rows not weak", len(frame)))
    frame = frame.assign(key=frame["title"].map(slice_key))
    frame = frame[frame["key"] != ""]
    onet = onet_title_keys(taxonomy)
    frame = frame[frame["title"].map(lambda t: title_keys(t).isdisjoint(onet))]
    counts.append(("rows whose title is no O*NET title", len(frame)))
    bench = benchmark_title_keys(taxonomy)
    frame = frame[frame["title"].map(lambda t: title_keys(t).isdisjoint(bench))]
    counts.append(("rows whose title is no benchmark title", len(frame)))
    counts.append(("distinct keys (normalised cleaned titles)", frame["key"].nunique()))
    rows = one_row_per_key(frame)
    counts.append(("keys with one most certified 6-digit SOC code", len(rows)))
    drawn = draw_slice(rows, cap)
    counts.append((f"held out (<= {cap} and <= {MAX_HELD_OUT_SHARE:.0%} of the keys per major group)", len(drawn)))
    return drawn, counts, group_table(rows, drawn, source)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=int, default=DEFAULT_CAP, help="most titles held out per SOC major group")
    parser.add_argument("--out", type=Path, default=SLICE_DIR)
    args = parser.parse_args(argv)
    taxonomy = load_taxonomy()
    drawn, counts, groups = build(taxonomy, args.cap)
    args.out.mkdir(parents=True, exist_ok=True)
    drawn[SLICE_COLUMNS].to_csv(args.out / SLICE_PATH.name, index=False, lineterminator="\n")
    for step, n in counts:
        print(f"{step:75} {n:>7,}")
    farm = (drawn["major_group"] == "45").mean()
    source = read_dol_h2()
    farm_cases = source.loc[source["onet_code"].map(major_group) == "45", "cases"].sum() / source["cases"].sum()
    split = int(drawn["code"].map(soc6).map(codes_per_soc6(taxonomy)).gt(1).sum())
    readme = README.format(
        split=split,
        farm_cases=farm_cases,
        cap=args.cap,
        share=MAX_HELD_OUT_SHARE,
        n=len(drawn),
        farm=farm,
        groups=groups,
        counts="\n".join(f"| {step} | {n:,} |" for step, n in counts),
    )
    (args.out / "README.md").write_text(readme, encoding="utf-8")
    (args.out / "NOTICE.md").write_text(NOTICE, encoding="utf-8")
    print(f"{args.out / SLICE_PATH.name}: {len(drawn):,} titles")


README = """# commercial-titles: employer-written job titles, a held-out benchmark (built by `scripts/build_commercial_titles.py`)

{n:,} job titles written by US employers, each with the SOC code the Department of Labor certified
on an H-2A (agricultural) or H-2B (non-agricultural, seasonal) labour certification, fiscal years
2011-2019. A held-out slice of `jobclass/resources/titles/dol_h2.csv.gz` (codes mapped to O*NET-SOC
2019 there: see that README). Titles only, no bodies. Scored by
`jobclass.evaluation.commercial_titles` / `benchmarks/commercial_titles.py` at 6-digit SOC
(`XX-XXXX`): the certified code is 6-digit. Detailed-code accuracy, for reference, can differ from
it only on a code under a SOC code that O*NET splits, and {split} of the slice's codes are (weak
rows, and titles equal to O*NET titles, which are what settles such a code, are dropped).
Attribution and licence: NOTICE.md. Rebuild with
`.venv/bin/python scripts/build_commercial_titles.py --cap {cap}` (deterministic).

Columns of `commercial_titles.csv`: id, title (the most certified spelling of its normalised
title), code (O*NET-SOC 2019), cases (certifications behind the title, all codes), share (of
them, the share certified under the code's 6-digit SOC code).

## How the slice was drawn

- Rows flagged weak (a SOC code that O*NET splits and the title does not settle) are dropped.
- The split is by normalised title as a classifier cleans it (`normalize_title(clean_title(title))`:
  "Cook II" and "COOK (seasonal)" are one title), so no title is on both sides.
- Titles equal, as written or cleaned, to an O*NET official, alternate or short title (every
  model's training corpus holds them) or to a benchmark title are dropped.
- One row per title: the 6-digit SOC code with most certifications (titles whose top two codes
  tie are dropped), its O*NET code with most certifications.
- Stratified by SOC major group: at most {cap} titles per group and at most {share:.0%} of a group's
  titles (so that at least half stay for training), drawn in the order of a hash of the title.
- Kept out of training: `jobclass.training.title_sources` drops every title of this file, as
  written or cleaned, from every source it loads (dol_h2 and the others), as it drops benchmark titles.

## Bias: seasonal and agricultural work

H-2 certifications are for temporary and seasonal work. Farm work (major group 45) and
landscaping (37), construction labour (47), meat and seafood processing (51), hospitality (35)
and amusement work (39) dominate the source. The cap keeps farm work to {farm:.1%} of the slice
(against {farm_cases:.1%} of the source's certifications), but the slice is still not a sample of the job
market: seasonal, manual and agricultural titles are over-represented, office and professional
titles under-represented, and a few major groups hold a handful of titles or none. Read it as
"titles as commercial employers write them, in the occupations H-2 visas cover". The codes are
as certified, not re-coded by hand: some are debatable (a "Cow Herder" certified as 11-9013,
farm managers), and a title certified under several codes (`share` below 1) is scored against
the code most of its certifications carry.

## Counts per major group

{groups}

## Row counts

| step | rows |
| --- | ---: |
{counts}
"""

NOTICE = """# commercial_titles.csv: attribution and licence

Derived from `jobclass/resources/titles/dol_h2.csv.gz` (see the NOTICE.md there), built by
`scripts/build_commercial_titles.py`. O*NET-SOC codes are from O*NET 29.3 by USDOL/ETA
(CC BY 4.0); O*NET(R) is a trademark of USDOL/ETA.

## Employer job titles certified by the U.S. Department of Labor (H-2A / H-2B)

U.S. Department of Labor, Office of Foreign Labor Certification, H-2A and H-2B public disclosure
data, fiscal years 2011-2019. A work of the U.S. Federal Government: public domain in the United
States (17 U.S.C. 105). Retrieved through github.com/BuzzFeedNews/H-2-certification-data.
Changes: HTML entities decoded, whitespace collapsed; SOC codes mapped to O*NET-SOC 2019 codes
(SOC 2010 codes that SOC 2018 replaced dropped); benchmark titles removed; then titles equal to an
O*NET title dropped, one row per normalised title, and a slice stratified by SOC major group drawn.
"""


if __name__ == "__main__":
    main()
