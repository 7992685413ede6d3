"""The commercial-titles benchmark (jobclass.evaluation.commercial_titles): the vendored slice and its scoring."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from jobclass.evaluation.commercial_titles import (
    NAME,
    SLICE_DIR,
    commercial_titles,
    hits_at,
    major_group,
    read_commercial_titles,
    score_predictions,
    scores_by_major_group,
)
from jobclass.model.cleaning import clean_title, normalize_title
from jobclass.onet.taxonomy import Taxonomy
from jobclass.training.title_sources import labelled_titles, title_keys

BUILDER = Path(__file__).resolve().parents[3] / "scripts" / "build_commercial_titles.py"
#: The builder's default cap (scripts/build_commercial_titles.py --cap): titles per SOC major group.
CAP = 100


@pytest.fixture(scope="module")
def slice_frame() -> pd.DataFrame:
    return read_commercial_titles()


# -- the vendored slice -----------------------------------------------------------------------------
def test_the_slice_is_about_a_thousand_titles_of_the_taxonomy_with_its_notice(
    slice_frame: pd.DataFrame, taxonomy: Taxonomy
) -> None:
    assert 900 <= len(slice_frame) <= 1100
    assert slice_frame["code"].isin(taxonomy.index_of).all()
    keys = slice_frame["title"].map(lambda t: normalize_title(clean_title(t)))
    assert not keys.duplicated().any() and (keys != "").all()  # one row per cleaned title
    assert ((slice_frame["share"] > 0) & (slice_frame["share"] <= 1)).all() and (slice_frame["cases"] >= 1).all()
    assert "17 U.S.C. 105" in (SLICE_DIR / "NOTICE.md").read_text()
    bench = commercial_titles()
    assert bench.name == NAME and len(bench) == len(slice_frame) and (bench.frame["body"] == "").all()


def test_stratification_caps_every_major_group_and_leaves_half_of_it_for_training(slice_frame: pd.DataFrame) -> None:
    held = slice_frame["code"].map(major_group).value_counts()
    assert held.max() <= CAP and held.get("45", 0) <= CAP  # farm work does not swamp it
    assert len(held) >= 15
    loaded = labelled_titles(["dol_h2"], set(), include_weak=True)
    left = loaded.assign(key=loaded["title"].map(lambda t: normalize_title(clean_title(t))))
    left_per_group = left.groupby(left["onet_code"].map(major_group))["key"].nunique()
    for group, n in held.items():
        assert n <= left_per_group.get(group, 0), group  # at most half of a group's titles held out


def test_the_slice_holds_no_onet_title(slice_frame: pd.DataFrame, taxonomy: Taxonomy) -> None:
    alt = taxonomy.alternate_titles
    onet = set().union(
        *(title_keys(t) for t in [*taxonomy.occupations["title"], *alt["alternate_title"], *alt["short_title"]] if t)
    )
    assert not any(title_keys(t) & onet for t in slice_frame["title"])


def test_the_vendored_slice_is_what_the_builder_draws(slice_frame: pd.DataFrame, taxonomy: Taxonomy) -> None:
    spec = importlib.util.spec_from_file_location("build_commercial_titles", BUILDER)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert builder.DEFAULT_CAP == CAP
    drawn, counts, _ = builder.build(taxonomy, CAP)
    assert drawn[slice_frame.columns.tolist()].equals(slice_frame)
    assert counts[-1][1] == len(slice_frame)


# -- scoring at 6 digits -------------------------------------------------------------------------
GOLD = pd.DataFrame(
    {
        "posting_id": ["a", "b", "c", "d"],
        "title": ["Grape Harvester", "Lift Operator", "Deckhand", "Line Cook"],
        "body": "",
        "code": ["45-2092.00", "53-7051.00", "53-5011.00", "35-2014.00"],
    }
)


def _predictions(ranked: dict[str, list[str]]) -> pd.DataFrame:
    """A ``predict_frame``-shaped long frame (the columns scoring reads) from each posting's ranked codes."""
    rows = [(pid, rank, code) for pid, codes in ranked.items() for rank, code in enumerate(codes, start=1)]
    return pd.DataFrame(rows, columns=["posting_id", "rank", "onet_code"])


PREDICTIONS = _predictions(
    {
        "a": ["45-2092.00", "45-2091.00", "37-3011.00", "45-2093.00", "45-2041.00"],  # right at rank 1
        "b": ["53-7051.01", "53-7062.00", "53-7064.00", "53-7065.00", "53-7061.00"],  # 6-digit right, detail wrong
        "c": ["53-5021.00", "53-5022.00", "53-5011.01", "53-7062.00", "33-3052.00"],  # 6-digit right at rank 3
        # "d": no prediction at all: a miss
    }
)


def test_a_prediction_is_right_at_six_digits_when_its_soc_code_agrees() -> None:
    assert hits_at(PREDICTIONS, GOLD, 1, 7).to_dict() == {"a": True, "b": True, "c": False, "d": False}
    assert hits_at(PREDICTIONS, GOLD, 5, 7).to_dict() == {"a": True, "b": True, "c": True, "d": False}
    assert hits_at(PREDICTIONS, GOLD, 1, 10).to_dict() == {"a": True, "b": False, "c": False, "d": False}
    assert score_predictions(PREDICTIONS, GOLD) == {
        "n": 4.0,
        "acc@1": 0.5,
        "acc@5": 0.75,
        "acc@1_se": 0.25,
        "detailed_acc@1": 0.25,
    }


def test_rank_order_not_row_order_decides_acc_at_1() -> None:
    shuffled = PREDICTIONS.sample(frac=1.0, random_state=0)
    assert score_predictions(shuffled, GOLD) == score_predictions(PREDICTIONS, GOLD)
    swapped = PREDICTIONS.assign(rank=PREDICTIONS["rank"].map({1: 3, 3: 1}).fillna(PREDICTIONS["rank"]).astype(int))
    assert hits_at(swapped, GOLD, 1, 7).to_dict() == {"a": False, "b": False, "c": True, "d": False}


def test_scores_by_major_group_split_the_rows() -> None:
    table = scores_by_major_group(PREDICTIONS, GOLD).set_index("major_group")
    assert table["n"].to_dict() == {"35": 1, "45": 1, "53": 2}
    assert table.loc["53", "acc@1"] == 0.5 and table.loc["53", "acc@5"] == 1.0 and table.loc["35", "acc@5"] == 0.0
