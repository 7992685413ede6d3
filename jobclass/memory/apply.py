"""The memory applied to the model's predictions: the nightly's step between the model and the store.

For a posting whose key (:func:`jobclass.memory.keys.memory_key`) is in memory, or, where nobody
reviewed its own title, whose title's head (:func:`jobclass.memory.keys.near_key`: "Economist" for
"Economist (Pathways Recent Graduate)") is:

- its top 1 is the remembered code, scored by the fitted :class:`~jobclass.memory.scorer.MemoryScorer`,
  and accepted without review when the scorer is fitted and the score reaches its fitted threshold
  (where the reviewed postings are right at the target precision), or when the model would accept
  its own top 1 and that is the remembered code (two sources agree);
- but a remembered code that is not the model's own top 1 is accepted only once at least
  ``min_reviews_against_model`` reviews chose it (3): one or two reviews against the model can be
  one coder's reading of one posting's duties, and a code accepted without review is never looked
  at again, so a thin entry would code every later posting with its title wrongly and unseen (the
  stream simulation showed it: two early "management analyst" postings coded as training
  specialists, then 69 more accepted so; benchmarks/RESULTS.md, issue 27);
  the model's own suggestions follow it (ranks 2..k);
- a conflicting entry puts every code it holds first (most reviews first) and is always reviewed;
- a code remembered from near titles only is accepted only once the scorer has seen enough such
  rows (:attr:`~jobclass.memory.scorer.MemoryScorer.knows_near`) and at its own threshold, fitted on
  them (``near_threshold``), and its evidence says so;
- a key that reviewers marked not codable, unanimously and at least ``reject_not_codable_after``
  times, is rejected with the reason ``remembered_not_codable`` (and its evidence); with fewer
  reviews, or where only near titles were marked so, the model's predictions go to review with the
  memory's evidence.

Before any of that, the model's own ``needs_review`` is set again from its review threshold refitted
on the reviewed postings (:mod:`jobclass.memory.model_threshold`) where there are enough of them.

Every row gets ``source`` (``memory``: this code came from the reviewers; ``model``), ``model_rank``
(the rank the model itself gave this code, None outside its top k) and ``memory_key``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobclass.columns import MEMORY_COLUMNS
from jobclass.memory.entries import NOT_CODABLE, MemoryEntry, TitleMemory
from jobclass.memory.model_threshold import ReviewedThreshold
from jobclass.memory.scorer import MemoryScorer, features
from jobclass.model.classifier import TARGET_PRECISION

MEMORY = "memory"
MODEL = "model"
SOURCES = (MODEL, MEMORY)
REMEMBERED_NOT_CODABLE = "remembered_not_codable"
#: Remembered codes are accepted without review at the score where the reviewed postings show this
#: precision (the scorer fits the threshold): the product's one target, the exact agreement of two
#: human coders on real postings (0.85).
DEFAULT_TARGET_PRECISION = TARGET_PRECISION
DEFAULT_REJECT_NOT_CODABLE_AFTER = 2
DEFAULT_MIN_REVIEWS_AGAINST_MODEL = 3


@dataclass(frozen=True)
class MemorySettings:
    target_precision: float = DEFAULT_TARGET_PRECISION
    reject_not_codable_after: int = DEFAULT_REJECT_NOT_CODABLE_AFTER
    min_reviews_against_model: int = DEFAULT_MIN_REVIEWS_AGAINST_MODEL
    #: Refit the model's review threshold on the reviewed postings (jobclass.memory.model_threshold).
    refit_model_threshold: bool = True
    #: Fall back on the reviews of titles with the posting's head (jobclass.memory.keys.near_key).
    near_titles: bool = True


@dataclass
class FittedMemory:
    """The memory and its scorer, as the nightly uses them."""

    memory: TitleMemory
    scorer: MemoryScorer
    settings: MemorySettings = MemorySettings()
    #: The model's review threshold refitted on reviewed postings (None: not read; the bundle's stands).
    model_threshold: ReviewedThreshold | None = None

    def describe(self) -> str:
        conflicts = sum(e.conflict for e in self.memory.entries.values())
        text = f"{len(self.memory)} keys ({conflicts} conflicting); score {self.scorer.describe()}"
        if self.model_threshold is not None:
            text += f"; the model's review threshold: {self.model_threshold.describe()}"
        return text


def reflag(predictions: pd.DataFrame, threshold: ReviewedThreshold | None) -> pd.DataFrame:
    """The model's predictions with ``needs_review`` set from a refitted review threshold (each
    posting's top-1 score under it); unchanged where the threshold was not refitted."""
    if threshold is None or not threshold.refitted or predictions.empty:
        return predictions
    top1 = predictions[predictions["rank"] == 1]
    score_of = dict(zip(top1["posting_id"], top1["score"].astype(float)))
    return predictions.assign(needs_review=[score_of.get(p, 0.0) < threshold.threshold for p in predictions["posting_id"]])


def model_only(predictions: pd.DataFrame, keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The model's predictions with the memory columns: every row from the model."""
    keys = keys or {}
    ids = predictions["posting_id"].astype(str)
    return predictions.assign(
        source=MODEL,
        model_rank=predictions["rank"].astype("int64"),
        memory_key=ids.map(lambda p: keys.get(p) or None).astype(object),
    )


def _remembered_rows(
    model_rows: pd.DataFrame,
    entries: Mapping[str, MemoryEntry],
    fitted: FittedMemory,
    titles: Mapping[str, str],
    top_k: int,
) -> pd.DataFrame:
    """The rows of postings coded from memory (``entries``: posting id -> its entry), in one pass:
    the entry's codes first (most reviews first), then the model's other codes, ``top_k`` in all."""
    model_rows = model_rows.sort_values(["posting_id", "rank"], kind="stable")
    model_codes = {str(p): g.tolist() for p, g in model_rows.groupby("posting_id", sort=False)["onet_code"]}
    first = model_rows.drop_duplicates("posting_id").set_index("posting_id")
    records, X = [], []
    for posting_id, entry in entries.items():
        ranked = model_codes[posting_id]
        for order, code in enumerate([c for c in entry.ranked_codes if c != NOT_CODABLE][:top_k]):
            X.append(features(entry, code, ranked))
            records.append(
                {
                    "posting_id": posting_id, "order": order, "onet_code": code, "onet_title": titles.get(code, code),
                    "soc6_code": code[:7], "major_group": code[:2], "backoff_level": "detailed",
                    "evidence": entry.evidence(), "evidence_score": float(entry.n_agree / entry.n), "source": MEMORY,
                    "model_rank": ranked.index(code) + 1 if code in ranked else None, "conflict": entry.conflict,
                    "n_agree": int(entry.counts.get(code, 0)), "near": entry.near,
                }
            )
    memory = pd.DataFrame(records)
    scores = fitted.scorer.score(np.array(X)).astype(float)
    memory["score"] = memory["soc6_score"] = memory["major_group_score"] = scores
    for column in model_rows.columns.difference([*memory.columns, "rank", "needs_review"]):
        memory[column] = memory["posting_id"].map(first[column]).to_numpy()  # per posting: truncated
    top = memory[memory["order"] == 0].set_index("posting_id")
    # The model alone would accept its top 1 and it is the remembered code: two sources agree.
    model_accepts = ~first["needs_review"].astype(bool) & (first["onet_code"] == top["onet_code"].reindex(first.index))
    unsure = (top["score"] < fitted.scorer.threshold) | (not fitted.scorer.fitted)
    near = top["near"].astype(bool)
    unsure = unsure | (near & ((not fitted.scorer.knows_near) | (top["score"] < fitted.scorer.near_threshold)))
    # a code the model does not rank first needs enough reviews behind it
    thin = (top["model_rank"].fillna(0) != 1) & (top["n_agree"] < fitted.settings.min_reviews_against_model)
    review = top["conflict"] | thin | (unsure & ~model_accepts.reindex(top.index).fillna(False).astype(bool))
    taken = set(zip(memory["posting_id"], memory["onet_code"]))
    rest = model_rows[[(p, c) not in taken for p, c in zip(model_rows["posting_id"], model_rows["onet_code"])]]
    rest = rest.assign(source=MODEL, model_rank=rest["rank"], order=rest["rank"] + top_k)
    rows = pd.concat([memory.drop(columns=["conflict", "n_agree", "near"]), rest.drop(columns=["rank"])], ignore_index=True)
    rows = rows.sort_values(["posting_id", "order"], kind="stable")
    rows["rank"] = rows.groupby("posting_id", sort=False).cumcount() + 1
    rows = rows[rows["rank"] <= top_k].drop(columns=["order"])
    rows["needs_review"] = rows["posting_id"].map(review).astype(bool).to_numpy()
    return rows


def _flag_with(model_rows: pd.DataFrame, entry: MemoryEntry) -> pd.DataFrame:
    """The model's rows, sent to review with the memory's evidence on the top 1."""
    rows = model_rows.assign(source=MODEL, model_rank=model_rows["rank"], needs_review=True)
    top = rows.index[0]
    rows.loc[top, "evidence"] = f"{entry.evidence()}; model: {rows.loc[top, 'evidence']}"
    return rows


def apply_memory(
    predictions: pd.DataFrame,
    keys: Mapping[str, str],
    fitted: FittedMemory | None,
    titles: Mapping[str, str],
    decided: Collection[str] = (),
    near_keys: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions with :data:`jobclass.columns.MEMORY_COLUMNS`, rejects of remembered not-codable postings).

    ``predictions`` are the model's long rows (one per posting and rank), ``keys`` each posting's
    memory key, ``near_keys`` its title's head (:func:`jobclass.memory.keys.near_key`; the fallback
    where ``fitted.settings.near_titles``). Postings without an entry keep the model's rows, flagged
    for review by the model's threshold refitted on reviewed postings where ``fitted`` holds one
    (:func:`reflag`). So do the ``decided`` postings (a reviewer decided them: their label is their
    code, and the model's own rows are what the memory's score and the threshold's refit learn from).
    """
    empty_rejects = pd.DataFrame(columns=["posting_id", "reason_code", "detail"])
    if fitted is not None:
        predictions = reflag(predictions, fitted.model_threshold)
    if fitted is None or not len(fitted.memory) or predictions.empty:
        return model_only(predictions, keys), empty_rejects
    columns = list(predictions.columns)
    top_k = int(predictions["rank"].max())
    ids = predictions["posting_id"].astype(str)
    decided = set(decided)
    near_keys = near_keys if near_keys is not None and fitted.settings.near_titles else {}
    entry_of = {
        p: e
        for p in ids.unique()
        if p not in decided and (e := fitted.memory.lookup(keys.get(p) or "", near_keys.get(p) or "")) is not None
    }
    coded = {p: e for p, e in entry_of.items() if not e.not_codable}
    rejects, flagged = [], []
    for posting_id, entry in entry_of.items():
        if not entry.not_codable:
            continue
        if not entry.conflict and not entry.near and entry.n >= fitted.settings.reject_not_codable_after:
            rejects.append({"posting_id": posting_id, "reason_code": REMEMBERED_NOT_CODABLE, "detail": entry.evidence()})
        else:
            flagged.append(_flag_with(predictions[ids == posting_id], entry))
    out = [model_only(predictions[~ids.isin(entry_of.keys())], keys), *flagged]
    if coded:
        out.append(_remembered_rows(predictions[ids.isin(coded.keys())], coded, fitted, titles, top_k))
    out = [frame.assign(memory_key=frame["posting_id"].astype(str).map(lambda p: keys.get(p) or None)) for frame in out]
    frame = pd.concat(out, ignore_index=True)
    frame = frame[[*columns, *MEMORY_COLUMNS]].sort_values(["posting_id", "rank"], kind="stable")
    frame["model_rank"] = frame["model_rank"].astype("Int64")
    frame["needs_review"] = frame["needs_review"].astype(bool)
    reject_frame = pd.DataFrame(rejects, columns=empty_rejects.columns) if rejects else empty_rejects
    return frame.reset_index(drop=True), reject_frame
