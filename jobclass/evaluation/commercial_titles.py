"""The "commercial-titles" benchmark: employer-written job titles with the SOC code DOL certified.

A held-out slice of ``jobclass/resources/titles/dol_h2.csv.gz`` (H-2A / H-2B certifications), built by
``scripts/build_commercial_titles.py`` and vendored in ``jobclass/resources/commercial_titles/`` (how it
was drawn, counts and bias: its README). Titles only, no bodies. The certified codes are 6-digit SOC,
so a prediction is scored at 6 digits (``XX-XXXX``); detailed-code accuracy is for reference only (the
O*NET detail under a SOC code was settled by the title, or the SOC code has one O*NET code).

Never trained on: :mod:`jobclass.training.title_sources` drops these titles from every source it loads.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark, read_keyed_csv
from jobclass.paths import RESOURCES_DIR

if TYPE_CHECKING:
    from jobclass.model.classifier import JobClassifier

NAME = "commercial-titles"
SLICE_DIR = RESOURCES_DIR / "commercial_titles"
SLICE_PATH = SLICE_DIR / "commercial_titles.csv"
#: The vendored file's columns: a row id, the employer's title (the most certified spelling of its
#: normalised title), the O*NET-SOC 2019 code, the certifications behind the title and the share of
#: them certified under the code's 6-digit SOC code.
SLICE_COLUMNS = ["id", "title", "code", "cases", "share"]
SOC6_CHARS = 7  # "XX-XXXX"
MAJOR_CHARS = 2
KS = (1, 5)


def soc6(code: str) -> str:
    """The 6-digit SOC code (``XX-XXXX``) of an O*NET-SOC code."""
    return code[:SOC6_CHARS]


def major_group(code: str) -> str:
    return code[:MAJOR_CHARS]


def read_commercial_titles(path: Path = SLICE_PATH) -> pd.DataFrame:
    """The vendored slice, columns :data:`SLICE_COLUMNS` (``cases`` int, ``share`` float)."""
    frame = read_keyed_csv(path, SLICE_COLUMNS, "id")
    return frame[SLICE_COLUMNS].assign(cases=frame["cases"].astype(int), share=frame["share"].astype(float))


@lru_cache(maxsize=1)
def commercial_titles_list() -> tuple[str, ...]:
    """The slice's titles (what training must never see)."""
    return tuple(read_commercial_titles()["title"])


def commercial_titles(path: Path = SLICE_PATH) -> Benchmark:
    """The slice as a benchmark: title, body "" (titles only), code, posting_id (the row id)."""
    frame = read_commercial_titles(path)
    return make_benchmark(
        NAME, pd.DataFrame({"title": frame["title"], "body": "", "code": frame["code"], "posting_id": frame["id"]})
    )


def predict_titles(classifier: JobClassifier, benchmark: Benchmark, top_k: int = max(KS)) -> pd.DataFrame:
    """``classifier.predict_frame`` over the benchmark's titles, bodies empty: long, one row per (id, rank)."""
    frame = benchmark.frame[["posting_id", "title"]].assign(body="")
    return classifier.predict_frame(frame, top_k=top_k)


def hits_at(predictions: pd.DataFrame, gold: pd.DataFrame, k: int, chars: int) -> pd.Series:
    """Per gold row (indexed by ``posting_id``): whether a code among its top ``k`` predictions agrees
    with its gold ``code`` on the first ``chars`` characters (7: 6-digit SOC; 10: the O*NET code).

    ``predictions``: ``predict_frame`` output (posting_id, rank, onet_code); a gold row without
    predictions is a miss.
    """
    top = predictions[predictions["rank"] <= k]
    truth = gold.set_index("posting_id")["code"].str[:chars]
    predicted = top["onet_code"].str[:chars].to_numpy()
    agrees = pd.Series(predicted == top["posting_id"].map(truth).to_numpy(), index=top["posting_id"].to_numpy())
    hit = agrees.groupby(level=0).any()
    return hit.reindex(truth.index, fill_value=False).astype(bool)


def standard_error(share: float, n: int) -> float:
    """The binomial standard error of a share measured on ``n`` rows."""
    return math.sqrt(share * (1.0 - share) / n) if n else float("nan")


def score_predictions(predictions: pd.DataFrame, gold: pd.DataFrame) -> dict[str, float]:
    """``acc@1`` and ``acc@5`` at 6-digit SOC (``acc@1_se``: acc@1's standard error), ``detailed_acc@1``
    (the O*NET code itself) and ``n``."""
    out: dict[str, float] = {"n": float(len(gold))}
    for k in KS:
        out[f"acc@{k}"] = float(hits_at(predictions, gold, k, SOC6_CHARS).mean())
    out["acc@1_se"] = standard_error(out["acc@1"], len(gold))
    out["detailed_acc@1"] = float(hits_at(predictions, gold, 1, len("XX-XXXX.XX")).mean())
    return out


def scores_by_major_group(predictions: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """n, acc@1 and acc@5 (6-digit SOC) by the gold code's major group."""
    frame = pd.DataFrame(
        {
            "major_group": gold.set_index("posting_id")["code"].map(major_group),
            "acc@1": hits_at(predictions, gold, 1, SOC6_CHARS),
            "acc@5": hits_at(predictions, gold, 5, SOC6_CHARS),
        }
    )
    table = frame.groupby("major_group").agg(
        n=("acc@1", "size"), **{"acc@1": ("acc@1", "mean"), "acc@5": ("acc@5", "mean")}
    )
    return table.reset_index()
