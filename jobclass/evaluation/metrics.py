"""Ranking metrics for single-label classification over the full label space."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobclass.onet.taxonomy import MAJOR_GROUP_NAMES

KS = (1, 5, 10)


def true_label_ranks(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0-based rank of the true label in each row; every other label with the same score counts as
    ranked above it. A model that cannot tell codes apart (a collapsed encoder gives all of them the
    same probability) then scores nothing, instead of a hit on every tie: the retrain gate once saw a
    wrecked challenger at acc@1 0.71 whose argmax was never right."""
    true = scores[np.arange(len(y)), y]
    return (scores >= true[:, None]).sum(axis=1) - 1


def ranking_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """acc@k, precision@k, recall@k, MRR@k and NDCG@k with one relevant label per row."""
    out: dict[str, float] = {"n": float(len(ranks))}
    for k in ks:
        hit = ranks < k
        out[f"acc@{k}"] = float(hit.mean())
        out[f"precision@{k}"] = float(hit.mean() / k)
        out[f"recall@{k}"] = float(hit.mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / (ranks + 1), 0.0).mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean())
    return out


def evaluate_scores(scores: np.ndarray, y: np.ndarray, codes: list[str], ks: tuple[int, ...] = KS) -> dict[str, float]:
    """All metrics, plus 6-digit SOC and major-group accuracy of the top-1 code."""
    ranks = true_label_ranks(scores, y)
    out = ranking_metrics(ranks, ks)
    codes_arr = np.asarray(codes)
    top1 = codes_arr[scores.argmax(axis=1)]
    truth = codes_arr[y]
    out["soc6_acc@1"] = float(np.mean([a[:7] == b[:7] for a, b in zip(top1, truth)]))
    out["major_acc@1"] = float(np.mean([a[:2] == b[:2] for a, b in zip(top1, truth)]))
    return out


def per_major_group(scores: np.ndarray, y: np.ndarray, codes: list[str]) -> pd.DataFrame:
    """acc@1 and acc@5 by the true code's major group."""
    ranks = true_label_ranks(scores, y)
    groups = np.asarray([codes[i][:2] for i in y])
    frame = pd.DataFrame({"major_group": groups, "acc@1": ranks < 1, "acc@5": ranks < 5})
    table = frame.groupby("major_group").agg(n=("acc@1", "size"), **{"acc@1": ("acc@1", "mean"), "acc@5": ("acc@5", "mean")})
    table.insert(0, "name", [MAJOR_GROUP_NAMES.get(g, "") for g in table.index])
    return table.reset_index()


def expected_calibration_error(top_scores: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top-1 score against top-1 correctness, equal-width bins."""
    bins = np.minimum((top_scores * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(top_scores[mask].mean() - correct[mask].mean())
    return float(ece)


def reliability_table(top_scores: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per score bin: rows, mean top-1 score and top-1 accuracy (a reliability diagram's data)."""
    bins = np.minimum((top_scores * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "score": top_scores, "correct": correct.astype(float)})
    table = frame.groupby("bin").agg(n=("score", "size"), mean_score=("score", "mean"), accuracy=("correct", "mean"))
    table.insert(0, "range", [f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}" for b in table.index])
    return table.reset_index(drop=True)
