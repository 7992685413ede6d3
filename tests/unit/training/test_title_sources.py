"""The vendored title sources (jobclass.training.title_sources): SOC mapping, benchmark overlap, wiring."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from jobclass.model.cleaning import normalize_title
from jobclass.onet.corpus import CORPUS_COLUMNS, add_extra_titles
from jobclass.onet.taxonomy import Taxonomy
from jobclass.training.config import TrainConfig
from jobclass.training.dataset import INDEX_SOURCES, index_sources, training_corpus
from jobclass.training.title_sources import (
    LABELLED_SOURCES,
    PAIR_SOURCES,
    SOURCE_FILES,
    TITLES_DIR,
    SocMapper,
    _read_vendored,
    benchmark_title_keys,
    drop_benchmark_titles,
    fine_tuning_pairs,
    held_out_title_keys,
    labelled_titles,
    parse_soc,
    posting_titles,
    questionnaire_pairs,
    read_source,
    same_series_pairs,
    title_keys,
)

MAX_VENDORED_BYTES = 5_000_000


@pytest.fixture(scope="module")
def mapper(taxonomy: Taxonomy) -> SocMapper:
    return SocMapper.from_taxonomy(taxonomy)


@pytest.fixture(scope="module")
def benchmark_keys(taxonomy: Taxonomy) -> set[str]:
    return benchmark_title_keys(taxonomy)


@pytest.fixture(scope="module")
def small_taxonomy(taxonomy: Taxonomy) -> Taxonomy:
    """Grounds-keeping and farm occupations (groups 37 and 45), where DOL's H-2 titles are, and the
    hand labourers (53-7062), a SOC code that O*NET splits in two (so weak rows)."""

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["code"].str[:2].isin(["37", "45"]) | frame["code"].str.startswith("53-7062")].reset_index(drop=True)

    return Taxonomy(
        occupations=keep(taxonomy.occupations), alternate_titles=keep(taxonomy.alternate_titles),
        tasks=keep(taxonomy.tasks), reported_titles=keep(taxonomy.reported_titles),
    )


# -- SOC codes ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("37-3011", ("37-3011", "")),
        ("373011", ("37-3011", "")),
        ("373011.0", ("37-3011", "")),  # a spreadsheet's float
        (" 47-2152.01 ", ("47-2152", "01")),
        ("53-7062.00", ("53-7062", "00")),
        ("37-30", None),
        ("", None),
    ],
)
def test_parse_soc_reads_the_forms_the_sources_use(raw: str, parsed: tuple[str, str] | None) -> None:
    assert parse_soc(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "title", "expected"),
    [
        ("373011", "Yard Man", ("37-3011.00", "unique")),  # one O*NET code for the SOC code
        ("39-9011.01", "Nanny", ("39-9011.01", "onet")),  # an O*NET-SOC code the taxonomy holds
        ("53-7062", "RECYCLING AND RECLAMATION WORKERS", ("53-7062.04", "title")),  # O*NET names the code
        ("53-7062", "Stocker", ("53-7062.00", "title")),  # also 53-7065.00's, outside this SOC code
        ("53-7062", "Xyz Helper", ("53-7062.00", "generic")),  # split by O*NET, unsettled: weak
        ("47-2152.01", "Xyz Fitter", ("47-2152.00", "generic")),  # an O*NET-SOC 2010 code gone by 2019
        ("45-3011", "Fisherman", ("", "not_in_2018")),  # SOC 2010 Fishers: 45-3031 in SOC 2018
        ("35-3021", "Cook", ("", "not_in_2018")),
        ("n/a", "Cook", ("", "unparsable")),
    ],
)
def test_soc_mapper_maps_to_one_onet_code_or_drops(mapper: SocMapper, raw: str, title: str, expected: tuple[str, str]) -> None:
    assert mapper.map(raw, title) == expected


def test_soc_mapper_drops_a_split_code_without_a_generic_occupation() -> None:
    mapper = SocMapper(codes_by_soc6={"11-1111": ("11-1111.01", "11-1111.02")}, codes_by_title={})
    assert mapper.map("11-1111", "Anything") == ("", "ambiguous")


# -- the vendored files ---------------------------------------------------------------------------
def test_every_vendored_file_is_small_and_has_its_notice() -> None:
    for name in SOURCE_FILES.values():
        assert (TITLES_DIR / name).stat().st_size < MAX_VENDORED_BYTES, name
    notice = (TITLES_DIR / "NOTICE.md").read_text()
    assert "This dataset uses the ESCO classification of the European Commission" in notice
    assert "CC BY 4.0" in notice and "Bureau of Labor Statistics" in notice and "17 U.S.C. 105" in notice


def test_labelled_sources_carry_codes_of_the_taxonomy(taxonomy: Taxonomy) -> None:
    titles = labelled_titles(LABELLED_SOURCES, set(), include_weak=True)
    assert set(titles["source"]) == set(LABELLED_SOURCES)
    assert titles["onet_code"].isin(taxonomy.index_of).all()
    strong = labelled_titles(LABELLED_SOURCES, set())
    assert not strong["weak"].any() and len(strong) < len(titles)
    assert (strong["title"].str.strip() != "").all()
    assert not strong["title"].str.contains("&nbsp;|&quot;|&amp;").any()  # DOL's HTML entities decoded


# -- overlap with the benchmarks ------------------------------------------------------------------
def test_benchmark_keys_cover_every_benchmark_and_every_vendored_posting(taxonomy: Taxonomy, benchmark_keys: set[str]) -> None:
    from jobclass.evaluation.sets import excluded_titles, load_benchmark

    assert excluded_titles(taxonomy) <= benchmark_keys
    assert len(posting_titles()) == 793
    assert {normalize_title(t) for t in posting_titles()} - {""} <= benchmark_keys
    assert load_benchmark("real-postings", taxonomy).title_keys - {""} <= benchmark_keys  # its untitled rows too
    assert normalize_title(taxonomy.reported_titles["reported_title"].iloc[0]) in benchmark_keys


def test_no_source_loads_a_benchmark_title(benchmark_keys: set[str]) -> None:
    for name in (*LABELLED_SOURCES, *PAIR_SOURCES):
        keys = set(read_source(name, benchmark_keys)["title"].map(normalize_title))
        assert not keys & benchmark_keys, name


def test_overlap_removal_runs_at_load_time_whatever_the_file_holds(taxonomy: Taxonomy) -> None:
    """A benchmark title is dropped when a source is read, not only when the file was built."""
    vendored = labelled_titles(["dol_h2"], set())
    victim = vendored["title"].iloc[0]
    assert victim in set(vendored["title"])
    assert victim not in set(labelled_titles(["dol_h2"], {normalize_title(victim)})["title"])
    reported = taxonomy.reported_titles["reported_title"].iloc[0]
    frame = pd.DataFrame({"title": [f"  {reported.upper()}!! ", "Surely No Benchmark Title Xyz"]})
    assert drop_benchmark_titles(frame, {normalize_title(reported)})["title"].tolist() == ["Surely No Benchmark Title Xyz"]


def test_a_title_that_cleans_to_a_benchmark_title_is_one(benchmark_keys: set[str]) -> None:
    """A classifier reads "Cook II" as "cook" (a reported title): it must not train either."""
    assert "cook ii" not in benchmark_keys and "cook" in benchmark_keys
    frame = pd.DataFrame({"title": ["Cook II", "Cook (Seasonal)", "Cook Helper Xyz"]})
    assert drop_benchmark_titles(frame, benchmark_keys)["title"].tolist() == ["Cook Helper Xyz"]
    assert not labelled_titles(["dol_h2"], benchmark_keys)["title"].str.fullmatch(r"(?i)cook i{2,3}").any()


def test_no_source_loads_a_commercial_titles_benchmark_title() -> None:
    """The commercial-titles benchmark is a slice of dol_h2: loading dol_h2 (weak rows too, whatever
    ``excluded`` holds) or any other source drops its titles, as written or cleaned."""
    from jobclass.evaluation.commercial_titles import read_commercial_titles

    held_out = held_out_title_keys()
    slice_titles = read_commercial_titles()["title"]
    assert len(held_out) >= len(slice_titles) > 0
    stored = _read_vendored("dol_h2")
    assert set(slice_titles) <= set(stored["title"])  # the vendored file holds them: removed at load time
    loaded = labelled_titles(["dol_h2"], set(), include_weak=True)
    assert len(loaded) < len(stored)
    assert not any(title_keys(t) & held_out for t in loaded["title"])
    for name in (*LABELLED_SOURCES, *PAIR_SOURCES):
        assert not any(title_keys(t) & held_out for t in read_source(name, set())["title"]), name
    cleaned_variant = f"{slice_titles.iloc[0].upper()} II"  # read as the slice's title by a classifier
    assert drop_benchmark_titles(pd.DataFrame({"title": [cleaned_variant]}), set(held_out)).empty


def test_pair_sources_pair_a_title_with_its_duties_or_its_series(benchmark_keys: set[str]) -> None:
    items = questionnaire_pairs(benchmark_keys)
    assert items.groupby("title").size().max() <= 5
    assert not items["item"].str.contains(r"\?").any()
    series = same_series_pairs(benchmark_keys, max_per_series=3)
    assert (series["anchor"] != series["positive"]).all() and series.groupby("series").size().max() <= 3
    listed = set(read_source("usajobs_series", benchmark_keys)[["title", "series"]].itertuples(index=False, name=None))
    assert all((a, s) in listed and (p, s) in listed for a, p, s in series.itertuples(index=False, name=None))
    pairs = fine_tuning_pairs(PAIR_SOURCES, benchmark_keys)
    assert list(pairs.columns) == ["anchor", "positive"] and len(pairs) > 10_000
    assert pairs.equals(fine_tuning_pairs(PAIR_SOURCES, benchmark_keys))  # deterministic
    with pytest.raises(ValueError):
        fine_tuning_pairs(["dmtf"], benchmark_keys)


# -- wiring: corpus and TrainConfig -----------------------------------------------------------------
def test_add_extra_titles_adds_new_training_titles_only(taxonomy: Taxonomy) -> None:
    corpus = pd.DataFrame(
        {
            "text": ["farmworker", "lawn mower"], "code": ["45-2092.00", "37-3011.00"], "label": np.array([0, 0], dtype=np.int32),
            "source": "alternate_title", "kind": "title", "split": ["train", "validation"], "field_title": False,
        }
    )[CORPUS_COLUMNS]
    titles = pd.DataFrame(
        {
            "title": ["Lawn Mower", "Farmworker", "Grape Picker", "Berry Picker", "Melon Picker", "Hedge Trimmer"],
            "onet_code": ["45-2092.00", "45-2092.00", "45-2092.00", "45-2092.00", "45-2092.00", "37-3011.00"],
            "source": ["dol_h2"] * 5 + ["dmtf"],
            "weak": False,
        }
    )
    out = add_extra_titles(corpus, titles, taxonomy)
    assert out.iloc[:2].equals(corpus)  # O*NET's rows, validation included, untouched
    added = out.iloc[2:]
    assert added["text"].tolist() == ["grape picker", "berry picker", "melon picker", "hedge trimmer"]
    assert (added["split"] == "train").all() and added["source"].tolist() == ["dol_h2"] * 3 + ["dmtf"]
    assert added["field_title"].tolist() == [True, True, True, False]
    assert (added["label"] == added["code"].map(taxonomy.index_of)).all() and added["label"].dtype == np.int32
    capped = add_extra_titles(corpus, titles, taxonomy, max_per_code=1).iloc[2:]
    assert capped.groupby(["source", "code"]).size().tolist() == [1, 1]


def test_train_config_adds_no_source_by_default() -> None:
    config = TrainConfig()
    assert config.extra_title_sources == () and config.finetune_pair_sources == ()
    assert index_sources(config) == INDEX_SOURCES
    assert index_sources(replace(config, extra_title_sources=("dmtf",))) == (*INDEX_SOURCES, "dmtf")
    assert index_sources(replace(config, extra_title_sources=("dmtf",), extra_titles_in_index=False)) == INDEX_SOURCES


def test_training_corpus_takes_the_configured_sources(small_taxonomy: Taxonomy, benchmark_keys: set[str]) -> None:
    base = training_corpus(TrainConfig(), small_taxonomy)
    config = TrainConfig(extra_title_sources=("dmtf", "dol_h2"))
    corpus = training_corpus(config, small_taxonomy)
    extra = corpus[corpus["source"].isin(config.extra_title_sources)]
    assert set(extra["source"]) == {"dmtf", "dol_h2"} and (extra["split"] == "train").all()
    assert extra["code"].isin(small_taxonomy.index_of).all()
    assert not set(extra["text"].map(normalize_title)) & benchmark_keys
    assert corpus.iloc[: len(base)].equals(base)  # the O*NET corpus, and its validation split, unchanged
    weak = training_corpus(replace(config, extra_titles_weak=True), small_taxonomy)
    pairs = set(corpus[["text", "code"]].itertuples(index=False, name=None))
    assert pairs < set(weak[["text", "code"]].itertuples(index=False, name=None))
    with pytest.raises(ValueError, match="not a labelled title source"):
        training_corpus(TrainConfig(extra_title_sources=("questionnaires",)), small_taxonomy)


@pytest.mark.slow
def test_train_model_indexes_and_reports_the_extra_titles(small_taxonomy: Taxonomy) -> None:
    from jobclass.training.train import train_model

    config = replace(
        TrainConfig.recipe("tiny"), finetune=False, benchmarks=(), extra_title_sources=("dol_h2",), extra_titles_max_per_code=3,
    )
    classifier = train_model(config, small_taxonomy)
    added = classifier.metadata["extra_titles"]["dol_h2"]
    assert 0 < added <= 3 * len(small_taxonomy)
    corpus = training_corpus(config, small_taxonomy)
    extra_texts = set(corpus.loc[corpus["source"] == "dol_h2", "text"])
    assert len(extra_texts) <= added and extra_texts <= set(classifier.index.texts)  # a title may carry two codes


@pytest.mark.slow
def test_pair_sources_fine_tune_before_the_main_objective(small_taxonomy: Taxonomy) -> None:
    from jobclass.training.finetune import finetune

    config = replace(TrainConfig.recipe("tiny"), finetune_pair_sources=("usajobs_series",), pair_max_steps=2)
    encoder, metrics = finetune(config, training_corpus(config, small_taxonomy), small_taxonomy)
    assert metrics["pairs_train_steps"] == 2 and metrics["pairs"] > 1000 and np.isfinite(metrics["pairs_train_loss"])
    assert metrics["train_steps"] == config.max_steps  # then the proxy softmax, as without pairs
    assert not encoder.training


def test_the_extra_titles_are_fine_tuned_on(small_taxonomy: Taxonomy) -> None:
    """TrainConfig.extra_title_sources promises that its titles are fine-tuned on, not only fitted by the heads."""
    from jobclass.training.finetune import proxy_training_rows

    config = TrainConfig(extra_title_sources=("dmtf", "dol_h2"))
    corpus = training_corpus(config, small_taxonomy)
    rows = proxy_training_rows(config, corpus)
    extra = corpus[corpus["source"].isin(config.extra_title_sources)]
    assert len(extra) and set(extra["text"]) <= set(rows["text"])
    assert not set(proxy_training_rows(TrainConfig(), corpus)["source"]) & {"dmtf", "dol_h2"}
