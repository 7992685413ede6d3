"""The training corpus: O*NET text views of every occupation, plus optional labelled postings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jobclass.hashing import bucket
from jobclass.model.cleaning import DUTY_SENTENCE_SCORE, clean_body, clean_title, compose_input, normalize_title
from jobclass.onet.taxonomy import Taxonomy

# Share of title rows (percent, by a hash of the title) kept out for validation.
VALIDATION_PERCENT = 5
# Tasks whose id hashes below this percent are held out for the composed-postings benchmark;
# the next VALIDATION_PERCENT compose validation postings (to fit the title/body weight).
HELD_OUT_TASK_PERCENT = 10

CORPUS_COLUMNS = ["text", "code", "label", "source", "kind", "split", "field_title"]
# O*NET alternate-title sources that are titles as used at work: incumbent data (02) and employer
# job postings (10), the kind of text the nightly classifies.
FIELD_SOURCES = ("02", "10")

SEED_COLUMNS = {"TITLE_RAW": "title", "BODY": "body", "ONET": "onet_code", "ONET_NAME": "onet_title"}


def is_held_out_task(task_id: str) -> bool:
    return bucket(f"task:{task_id}") < HELD_OUT_TASK_PERCENT


def is_validation_task(task_id: str) -> bool:
    return HELD_OUT_TASK_PERCENT <= bucket(f"task:{task_id}") < HELD_OUT_TASK_PERCENT + VALIDATION_PERCENT


def read_labelled_postings(path: str | Path) -> pd.DataFrame:
    """Labelled postings from CSV or Parquet, in the seed's columns or ours.

    Returns columns title, body, onet_code; rows without a code are dropped.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.rename(columns=SEED_COLUMNS)
    missing = {"title", "onet_code"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"{path}: missing columns {sorted(missing)}; expected title/body/onet_code "
            "or the seed's TITLE_RAW/BODY/ONET."
        )
    if "body" not in frame:
        frame["body"] = ""
    frame = frame[["title", "body", "onet_code"]].fillna("")
    return frame[frame["onet_code"].str.strip() != ""].reset_index(drop=True)


def build_corpus(
    taxonomy: Taxonomy,
    excluded_titles: set[str],
    labelled: pd.DataFrame | None = None,
    body_min_duty_score: float = DUTY_SENTENCE_SCORE,
) -> pd.DataFrame:
    """Every (text, code) example, cleaned the way queries are cleaned.

    A labelled posting's body is read as a classifier reads it (``body_min_duty_score``; see
    ``ModelSettings.min_duty_score``); O*NET task statements are taken whole.

    ``excluded_titles`` holds normalised benchmark titles: any title equal to one is dropped.
    Held-out tasks (see :func:`is_held_out_task`) are dropped. Title rows are split into train
    and validation by a hash of the title, so one title never sits on both sides.
    """
    occ = taxonomy.occupations
    alt = taxonomy.alternate_titles
    tasks = taxonomy.tasks[~taxonomy.tasks["task_id"].map(is_held_out_task)]
    field = alt["sources"].fillna("").str.split(",").map(lambda codes: any(c.strip() in FIELD_SOURCES for c in codes))
    parts = [
        pd.DataFrame({"raw": occ["title"], "code": occ["code"], "source": "official_title", "kind": "title"}),
        pd.DataFrame(
            {"raw": alt["alternate_title"], "code": alt["code"], "source": "alternate_title", "kind": "title", "field_title": field}
        ),
        pd.DataFrame({"raw": alt["short_title"], "code": alt["code"], "source": "short_title", "kind": "title", "field_title": field}),
        pd.DataFrame(
            {
                "raw": tasks["task"],
                "code": tasks["code"],
                "source": "task",
                "kind": "body",
                "validation_task": tasks["task_id"].map(is_validation_task),
            }
        ),
        pd.DataFrame({"raw": occ["description"], "code": occ["code"], "source": "description", "kind": "body"}),
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["raw"].str.strip() != ""]
    is_title = frame["kind"] == "title"
    keys = frame["raw"].map(normalize_title)
    frame = frame[~(is_title & keys.isin(excluded_titles))].copy()
    frame["text"] = np.where(
        frame["kind"] == "title", frame["raw"].map(clean_title), frame["raw"].map(lambda t: clean_body(t, 10_000))
    )
    if labelled is not None and len(labelled):
        known = labelled["onet_code"].isin(taxonomy.index_of)
        lab = labelled[known & ~labelled["title"].map(normalize_title).isin(excluded_titles)]
        frame = pd.concat(
            [
                frame,
                pd.DataFrame(
                    {
                        "text": [
                            compose_input(t, b, min_duty_score=body_min_duty_score) for t, b in zip(lab["title"], lab["body"])
                        ],
                        "code": lab["onet_code"].to_numpy(),
                        "source": "labelled",
                        "kind": "posting",
                    }
                ),
            ],
            ignore_index=True,
        )
    frame["field_title"] = frame["field_title"].fillna(False).astype(bool)  # only alternate and short titles have it
    frame = frame[frame["text"] != ""].drop_duplicates(["text", "code"])
    frame["label"] = frame["code"].map(taxonomy.index_of).astype(np.int32)
    held_out_title = (
        (frame["kind"] != "body")
        & (frame["source"] != "official_title")
        & frame["text"].map(lambda t: bucket(f"val:{t}") < VALIDATION_PERCENT)
    )
    held_out_task = frame.get("validation_task", pd.Series(False, index=frame.index)).fillna(False).astype(bool)
    frame["split"] = np.where(held_out_title | held_out_task, "validation", "train")
    # A text that also trains (another source or code) is no validation: keep it in train.
    in_train = frame["text"].isin(set(frame.loc[frame["split"] == "train", "text"]))
    frame.loc[in_train, "split"] = "train"
    return frame[CORPUS_COLUMNS].reset_index(drop=True)


def add_extra_titles(
    corpus: pd.DataFrame, titles: pd.DataFrame, taxonomy: Taxonomy, max_per_code: int | None = None
) -> pd.DataFrame:
    """``corpus`` plus the labelled ``titles`` (see :func:`jobclass.training.title_sources.labelled_titles`)
    as training rows whose ``source`` is their title source's name.

    Only titles new to the corpus are added (as the corpus cleans them): a text the corpus already
    holds, under any code or split, would otherwise change O*NET's own rows or move a validation
    title into training, and validation must stay the same whatever sources are added. Extra rows
    never validate. ``max_per_code`` keeps at most that many rows per (source, code), chosen by a
    stable hash (DOL's H-2 titles are mostly farm work). A DOL H-2 title, written by an employer
    for its ad, is a field title (see :data:`FIELD_SOURCES`).
    """
    extra = titles[titles["onet_code"].isin(taxonomy.index_of)]
    extra = pd.DataFrame(
        {
            "text": extra["title"].map(clean_title).to_numpy(),
            "code": extra["onet_code"].to_numpy(),
            "source": extra["source"].to_numpy(),
            "kind": "title",
            "split": "train",
            "field_title": (extra["source"] == "dol_h2").to_numpy(),
        }
    )
    extra = extra[(extra["text"] != "") & ~extra["text"].isin(set(corpus["text"]))].drop_duplicates(["text", "code"])
    if max_per_code is not None:
        extra = extra.assign(_k=extra["text"].map(lambda t: bucket(f"extra:{t}", 1 << 30))).sort_values("_k")
        extra = extra.groupby(["source", "code"], sort=False).head(max_per_code).drop(columns="_k").sort_index()
    extra["label"] = extra["code"].map(taxonomy.index_of).astype(np.int32)
    return pd.concat([corpus, extra[CORPUS_COLUMNS]], ignore_index=True)


def sibling_code(code: str, codes_by_prefix: dict[str, list[str]]) -> str | None:
    """A deterministic near-miss occupation: same 6-digit SOC, else minor group, else broad group."""
    for prefix in (code[:7], code[:5], code[:4], code[:2]):
        siblings = [c for c in codes_by_prefix.get(prefix, []) if c != code]
        if siblings:
            return siblings[bucket(f"sib:{code}", len(siblings))]
    return None


def contrastive_pairs(
    corpus: pd.DataFrame, taxonomy: Taxonomy, max_pairs: int | None = None, split: str = "train"
) -> pd.DataFrame:
    """(anchor, positive, negative) rows for MultipleNegativesRankingLoss.

    The anchor is a training text, the positive its occupation's cleaned official title and the
    negative a sibling occupation's title: a hard negative.
    """
    train = corpus[(corpus["split"] == split) & (corpus["source"] != "official_title")]
    if max_pairs is not None and len(train) > max_pairs:
        # Keep every occupation covered: take rows in an order that interleaves codes.
        order = train.assign(_k=train["text"].map(lambda t: bucket(f"pair:{t}", 1 << 30)))
        order = order.sort_values("_k")
        order["_r"] = order.groupby("code").cumcount()
        train = order.sort_values(["_r", "_k"]).head(max_pairs)
    codes_by_prefix: dict[str, list[str]] = {}
    for code in taxonomy.codes:
        for prefix in (code[:7], code[:5], code[:4], code[:2]):
            codes_by_prefix.setdefault(prefix, []).append(code)
    title = {c: clean_title(t) for c, t in taxonomy.title_of.items()}
    negative = {c: title[s] for c in taxonomy.codes if (s := sibling_code(c, codes_by_prefix))}
    return pd.DataFrame(
        {
            "anchor": train["text"].to_numpy(),
            "positive": train["code"].map(title).to_numpy(),
            "negative": train["code"].map(negative).fillna("").to_numpy(),
        }
    ).sample(frac=1.0, random_state=0).reset_index(drop=True)
