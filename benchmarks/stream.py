"""A whole real stream, night by night, with a reviewer (issue 27): what the coded-title memory and
the review queue's order do to the share of postings coded without a human, at what precision, for
how many decisions.

    .venv/bin/python benchmarks/stream.py --model BUNDLE [--budget 0.2 --budget 0.35] [--batch day|week]
        [--bulk] [--reviewer-seed S] [--json FILE]
    .venv/bin/python benchmarks/stream.py --keys      # memory precision of each key, leave-one-out

The stream is the 793 vendored USAJOBS postings in publication order. Its gold is the two hand-coded
files of ``jobclass/resources/real_postings`` (the frozen 342-row benchmark and the 451-row stream
file), coded blind under one protocol; neither is trained on. Each night (``--batch day``: one
publication date; ``week``: seven) the real pipeline runs on a fresh SQLite store: the night's
postings are loaded, ``classify_interval`` validates, predicts with ``--model`` and applies the
memory as it stands (the nightly's own code path), and writes SQL and Parquet. Then a simulated
reviewer works the real review queue (``review_queue``) in its order, deciding each posting with
its gold code (or "not codable" for a posting coded ``none``), up to ``budget`` x the postings
seen so far, less the decisions already spent (the budget accrues night by night, and what a
quiet night leaves carries over); what it does not reach stays pending. This is the one place where the gold
plays the reviewer, and nothing here trains the model that ships.

Arms, at each budget:

- ``memory``: today's product: the memory on (falling back on the reviews of a title's head where
  nobody reviewed the title itself; ``--no-near-titles``: exact titles only), the queue in its default
  order (what one decision settles, then the least certain first; a posting whose title was decided
  since it was coded last, as the backlog step re-codes it: ``--queue-ignores-memory`` turns that
  off), and the model's review threshold refitted each night on the postings reviewed so far
  (``--no-threshold-refit``: the bundle's throughout);
- ``baseline``: the behaviour before the memory: no memory, the queue newest run first.

Reported per arm: the share of the stream coded automatically (not flagged for review), its strict
and lenient precision against the gold, the decisions spent, the postings left pending, and the
curve night by night. ``--bulk``: the reviewer applies each decision to every pending posting that
shares the title (one decision, N labels): the labels' own precision against the gold is reported.
``--reviewer-seed S``: the reviewer takes, at random, one of the queue's first rows that settle as
many as its first (a sensitivity check: one exact order is one path through the stream, and small
changes of path move the result by points). The bundle's review threshold was fitted on the
benchmark postings, which are part of this stream: ``--bundle-threshold 1.01`` replaces it, so that the model accepts nothing until the refit on the
simulated reviewer's decisions (out-of-sample: each night's threshold is fitted on earlier nights).
The model's predictions are computed once per posting (the int8 encoder, as the nightly runs) and
served to the pipeline by ``PrecomputedModel``; everything after the model runs for real.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("stream")

REVIEWER = "simulated-reviewer"
#: With ``--reviewer-seed``: the reviewer chooses among the queue's first this many rows that settle
#: as many as its first.
REVIEWER_CHOICE = 10
#: How a code remembered from near titles (another title with the posting's head) says so in its evidence.
NEAR_EVIDENCE = "with a title like this one"
#: The nightly backlog step's lookback (jobclass.pipeline.backlog), in days of publication dates.
BACKLOG_DAYS = 30


# -- the gold and the stream --------------------------------------------------------------------
def gold_codes() -> dict[str, tuple[str, frozenset[str]]]:
    """Posting id -> (code or ``none``, the lenient set: code and also_ok)."""
    from jobclass.evaluation.real_postings import stream_labels

    labels = stream_labels()
    return {
        r.posting_id: (r.code, frozenset({r.code, *[c.strip() for c in r.also_ok.split(";") if c.strip()]}))
        for r in labels.itertuples(index=False)
    }


def stream_records() -> list[dict[str, Any]]:
    """The vendored postings, oldest publication first (ties by id)."""
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.postings.files import read_postings_file

    records = list(read_postings_file(DEMO_POSTINGS))
    return sorted(records, key=lambda r: (r.get("publication_date") or "", r["id"]))


def batches(records: list[dict[str, Any]], unit: str) -> list[tuple[date, list[dict[str, Any]]]]:
    """Nights: one per publication date (``day``) or per seven days from the first (``week``)."""
    first = date.fromisoformat(records[0]["publication_date"][:10])
    groups: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        day = date.fromisoformat(record["publication_date"][:10])
        if unit == "week":
            day = first + timedelta(days=7 * ((day - first).days // 7))
        groups[day].append(record)
    return sorted(groups.items())


# -- the model, run once per posting --------------------------------------------------------------
@dataclass
class PrecomputedModel:
    """The real model's predictions of every posting, computed once (:func:`precompute`) and served
    to the pipeline, which asks for them night by night."""

    version: str
    predictions: pd.DataFrame

    def predict_frame(self, frame: pd.DataFrame, top_k: int = 5, **_: Any) -> pd.DataFrame:
        ids = set(frame["posting_id"].astype(str))
        rows = self.predictions[self.predictions["posting_id"].isin(ids)]
        return rows[rows["rank"] <= top_k].reset_index(drop=True)


def precompute(bundle: str, records: list[dict[str, Any]], top_k: int = 5) -> PrecomputedModel:
    from jobclass.model.bundle import load_bundle
    from jobclass.postings.rows import posting_row

    classifier = load_bundle(bundle)
    rows = [posting_row(r, default_source="usajobs", ingested_at="") for r in records]
    frame = pd.DataFrame([{"posting_id": r["id"], "title": r["title"] or "", "body": r["body"] or ""} for r in rows])
    started = time.perf_counter()
    predictions = classifier.predict_frame(frame, top_k=top_k)
    log.info("the model predicted %d postings in %.1fs (%s)", len(frame), time.perf_counter() - started, classifier.version)
    predictions["posting_id"] = predictions["posting_id"].astype(str)
    return PrecomputedModel(classifier.version, predictions)


# -- one arm --------------------------------------------------------------------------------------
@dataclass
class Arm:
    name: str
    use_memory: bool
    order: str
    budget: float
    bulk: bool = False
    backlog: bool = True
    #: None: the reviewer takes the queue's first row. A seed: one at random among the first rows
    #: that settle as many (a sensitivity check: reviewers do not work a queue in one exact order).
    reviewer_seed: int | None = None


@dataclass
class Outcome:
    arm: Arm
    nights: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def review(
    engine, arm: Arm, budget: int, gold: dict[str, tuple[str, frozenset[str]]]
) -> tuple[int, int, list[tuple[str, str]], int]:
    """The simulated reviewer: up to ``budget`` decisions on the pending queue, in its order.
    Returns (decisions, labels written, (posting, code) of labels written by bulk decisions,
    decisions on postings that awaited a re-code from an earlier decision on their title)."""
    from jobclass.store.labels import (
        CODED,
        NOT_CODABLE,
        Decision,
        QueueFilter,
        pending_group,
        record_decisions,
        review_queue,
    )

    decisions = labels = awaiting = 0
    bulk_labels: list[tuple[str, str]] = []
    rng = random.Random(arm.reviewer_seed) if arm.reviewer_seed is not None else None
    while decisions < budget:
        rows, _ = review_queue(engine, QueueFilter(order=arm.order), 1 if rng is None else REVIEWER_CHOICE)
        if not rows:
            break
        # (0 by construction with --queue-ignores-memory: no row awaits there)
        awaiting += arm.order == "impact" and rows[0]["settles"] == 0
        row = rows[0] if rng is None else rng.choice([r for r in rows if r["settles"] == rows[0]["settles"]])
        code = gold[row["posting_id"]][0]
        ids = [row["posting_id"]]
        if arm.bulk and row["pending_n"] > 1:  # the page offers "apply to all N" where N > 1
            ids = [r["posting_id"] for r in pending_group(engine, row["posting_id"])]
        bulk_id = f"bulk-{row['posting_id']}" if len(ids) > 1 else None
        record_decisions(
            engine,
            [
                Decision(p, NOT_CODABLE, "", REVIEWER, row["model_version"], bulk_id=bulk_id)
                if code == "none"
                else Decision(p, CODED, code, REVIEWER, row["model_version"], bulk_id=bulk_id)
                for p in ids
            ],
        )
        decisions += 1
        labels += len(ids)
        if bulk_id:
            bulk_labels += [(p, code) for p in ids if p != row["posting_id"]]
    return decisions, labels, bulk_labels, awaiting


def final_state(engine) -> pd.DataFrame:
    """Each posting's outcome: its latest top 1 (code, source, needs_review), or its reject."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        top = pd.DataFrame(
            conn.execute(
                sa.text(
                    "SELECT posting_id, onet_code, source, needs_review, predicted_at, memory_key, evidence"
                    " FROM predictions WHERE rank = 1"
                )
            ).fetchall(),
            columns=["posting_id", "onet_code", "source", "needs_review", "predicted_at", "memory_key", "evidence"],
        )
        rejects = pd.DataFrame(
            conn.execute(sa.text("SELECT posting_id, reason_code FROM rejected_postings")).fetchall(),
            columns=["posting_id", "reason_code"],
        )
        labelled = {r[0] for r in conn.execute(sa.text("SELECT posting_id FROM posting_labels"))}
    top = top.sort_values("predicted_at").drop_duplicates("posting_id", keep="last")
    top["needs_review"] = top["needs_review"].astype(bool)
    top["rejected"] = ""
    # A posting rejected as remembered not codable was settled without a human (gold "none" is right);
    # any other reject (empty, bad encoding) was settled by nobody.
    remembered = rejects["reason_code"] == "remembered_not_codable"
    rej = rejects.assign(
        onet_code="none", source="memory", needs_review=~remembered, predicted_at="", memory_key=None, evidence="",
        rejected=rejects["reason_code"],
    )
    frame = pd.concat([top, rej.drop(columns=["reason_code"])], ignore_index=True)
    frame["reviewed"] = frame["posting_id"].isin(labelled)
    return frame


def flagged_why(frame: pd.DataFrame) -> dict[str, int]:
    """Why the postings that a human had to settle (or that wait) were flagged, from their latest
    top 1: no usable title; a title the memory did not hold yet (the model's own doubt); a conflicting
    entry; an entry the fitted score did not trust enough; a rejected posting."""
    flagged = frame[frame["needs_review"]]
    evidence = flagged["evidence"].fillna("")
    why = pd.Series("model: a title not in memory yet", index=flagged.index)
    why[flagged["memory_key"].isna() | (flagged["memory_key"] == "")] = "model: no usable title"
    why[evidence.str.startswith("reviewed:") & (flagged["source"] == "model")] = "memory: not codable once (flagged with evidence)"
    why[(flagged["source"] == "memory") & evidence.str.contains("conflicting")] = "memory: a conflicting entry"
    why[(flagged["source"] == "memory") & ~evidence.str.contains("conflicting")] = "memory: score under its threshold"
    why[(flagged["source"] == "memory") & evidence.str.contains(NEAR_EVIDENCE, regex=False)] = "memory (near titles): conflicting or under its threshold"
    why[flagged["rejected"] != ""] = "rejected"
    return {k: int(v) for k, v in why.value_counts().items()}


def score(frame: pd.DataFrame, gold: dict[str, tuple[str, frozenset[str]]]) -> dict[str, Any]:
    """Automatic share and precision (strict, lenient) against the gold; by source too. A posting a
    reviewer decided is never automatic, whatever its latest rows say."""
    auto = frame[~frame["needs_review"] & ~frame["reviewed"]]
    strict = [gold[p][0] == c for p, c in zip(auto["posting_id"], auto["onet_code"])]
    lenient = [c in gold[p][1] for p, c in zip(auto["posting_id"], auto["onet_code"])]
    out = {
        "postings": int(len(frame)),
        "automatic": int(len(auto)),
        "automatic_share": round(len(auto) / max(len(frame), 1), 4),
        "precision_strict": round(sum(strict) / max(len(auto), 1), 4),
        "precision_lenient": round(sum(lenient) / max(len(auto), 1), 4),
    }
    near = (auto["source"] == "memory") & auto["evidence"].fillna("").str.contains(NEAR_EVIDENCE, regex=False)
    for source, part in (("memory", auto["source"] == "memory"), ("model", auto["source"] == "model"), ("near_titles", near)):
        n = int(part.sum())
        out[f"automatic_from_{source}"] = n
        out[f"precision_strict_{source}"] = round(sum(s for s, k in zip(strict, part) if k) / max(n, 1), 4)
        out[f"precision_lenient_{source}"] = round(sum(s for s, k in zip(lenient, part) if k) / max(n, 1), 4)
    # The bundle's review threshold was fitted on labels.csv's postings: the model's accepts among the
    # stream file's 451 others are the out-of-sample part of the "from the model" figures.
    unseen = (auto["source"] == "model").to_numpy() & ~auto["posting_id"].isin(_threshold_fit_ids()).to_numpy()
    out["automatic_from_model_outside_threshold_fit"] = int(unseen.sum())
    out["precision_strict_model_outside_threshold_fit"] = round(sum(s for s, k in zip(strict, unseen) if k) / max(int(unseen.sum()), 1), 4)
    return out


def _threshold_fit_ids() -> set[str]:
    """The postings of labels.csv, on which the bundle's review threshold was fitted."""
    from jobclass.evaluation.real_postings import read_labels

    return set(read_labels()["posting_id"].astype(str))


def run_arm(arm: Arm, model: PrecomputedModel, nights: list, gold: dict, workdir: Path, unit: str = "day") -> Outcome:
    from jobclass.pipeline.backlog import recode_backlog
    from jobclass.pipeline.ingest import load_records
    from jobclass.pipeline.interval import classify_interval
    from jobclass.store.engine import format_ts, make_engine
    from jobclass.store.schema import init_schema

    db = workdir / f"{arm.name}-{arm.budget}.db"
    engine = make_engine(f"sqlite:///{db}")
    init_schema(engine)
    outcome = Outcome(arm)
    decisions = labels = recoded = awaiting = 0
    bulk_labels: list[tuple[str, str]] = []
    seen = 0
    allowance = 0.0
    started = time.perf_counter()
    for i, (day, records) in enumerate(nights):
        start = _utc(day)
        end = start + timedelta(days=7 if unit == "week" else 1)
        load_records(engine, records, source="usajobs", ingested_at=format_ts(start + timedelta(hours=1)), origin=f"night-{day}")
        classify_interval(engine, model, start, end, out_dir=workdir / f"parquet-{arm.name}-{arm.budget}", use_memory=arm.use_memory)
        seen += len(records)
        allowance += arm.budget * len(records)  # the budget accrues night by night; unspent, it carries over
        spent, written, bulk, on_awaiting = review(engine, arm, math.floor(allowance + 1e-9) - decisions, gold)
        decisions += spent
        awaiting += on_awaiting
        labels += written
        bulk_labels += bulk
        if arm.use_memory and arm.backlog:  # the nightly's backlog step: earlier nights' pending postings a decision now settles
            recoded += len(recode_backlog(engine, model, end, lookback_days=BACKLOG_DAYS, out_dir=workdir / f"parquet-{arm.name}-{arm.budget}"))
        state = score(final_state(engine), gold)
        refit = _model_threshold(engine, model.version) if arm.use_memory else None
        outcome.nights.append(
            {"night": day.isoformat(), "postings_so_far": seen, "decisions_so_far": decisions, "model_threshold": refit, **state}
        )
        if (i + 1) % 10 == 0 or i + 1 == len(nights):
            log.info(
                "%s budget %.2f: night %d/%d, %d postings, %.1f%% automatic (precision %.3f), %d decisions, %.0fs",
                arm.name, arm.budget, i + 1, len(nights), seen, 100 * state["automatic_share"], state["precision_strict"],
                decisions, time.perf_counter() - started,
            )
    final = final_state(engine)
    pending = final[final["needs_review"] & ~final["reviewed"]]
    known = _known_keys(engine) if arm.use_memory else set()
    outcome.summary = {
        **score(final, gold),
        "decisions": decisions,
        # decisions on postings the next nightly would have re-coded from an earlier decision on their title
        "decisions_on_awaiting": awaiting,
        "backlog_reruns": recoded,
        "decisions_share": round(decisions / max(len(final), 1), 4),
        "labels": labels,
        "pending_left": len(pending),
        # left pending, though the memory now holds a settled (non-conflicting) code for its title:
        # what re-coding the backlog when a decision settles its title would reach
        "pending_left_with_a_settled_title": int(pending["posting_id"].isin(known).sum()),
        "bulk_label_precision": round(sum(gold[p][0] == c for p, c in bulk_labels) / len(bulk_labels), 4) if bulk_labels else None,
        "bulk_labels": len(bulk_labels),
        "flagged_why": flagged_why(final),
    }
    engine.dispose()
    return outcome


def _replace_settings(**changes: Any) -> None:
    """An ablation: the memory settings the pipeline reads, with ``changes``."""
    import dataclasses

    import jobclass.pipeline.memory as pipeline_memory

    settings_now = pipeline_memory.MemorySettings
    pipeline_memory.MemorySettings = lambda **kw: dataclasses.replace(settings_now(**kw), **changes)


def _model_threshold(engine, version: str) -> float | None:
    """The model's review threshold the next night would use, refitted on the reviews so far (None:
    the bundle's), without fitting the memory itself again."""
    import jobclass.pipeline.memory as pipeline_memory
    from jobclass.store.memory import read_decisions, read_model_top1

    settings = pipeline_memory.MemorySettings()  # as the nightly reads it (the ablations replace it)
    if not settings.refit_model_threshold:
        return None
    decisions = pipeline_memory.decisions_frame(read_decisions(engine))
    return pipeline_memory.reviewed_threshold(decisions, read_model_top1(engine, version), settings).threshold


def _known_keys(engine) -> set[str]:
    """Posting ids whose memory key has a coded, non-conflicting entry now."""
    import sqlalchemy as sa

    from jobclass.pipeline.memory import load_memory

    memory = load_memory(engine).memory
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT DISTINCT posting_id, memory_key FROM predictions WHERE rank = 1")).fetchall()
    settled = {k for k, e in memory.entries.items() if not e.conflict and not e.not_codable}
    return {p for p, k in rows if k in settled}


# -- the keys, leave-one-out ----------------------------------------------------------------------
def key_precision(records: list[dict[str, Any]], gold: dict) -> list[dict[str, Any]]:
    """For each key scheme: leave-one-out over the hand-coded postings whose key another shares,
    how often the memory's code (the other postings' most frequent) is the gold code."""
    from jobclass.memory.keys import KEY_SCHEMES, memory_key

    out = []
    for scheme in KEY_SCHEMES:
        by_key: dict[str, list[str]] = defaultdict(list)
        for r in records:
            key = memory_key(r.get("title"), r, scheme)
            if key and gold[r["id"]][0] != "none":
                by_key[key].append(r["id"])
        n = strict = lenient = 0
        for ids in by_key.values():
            for p in ids if len(ids) > 1 else []:
                top = Counter(gold[o][0] for o in ids if o != p).most_common(1)[0][0]
                n += 1
                strict += top == gold[p][0]
                lenient += top in gold[p][1]
        out.append(
            {
                "key": scheme,
                "keys": len(by_key),
                "postings_with_a_shared_key": n,
                "share_of_stream": round(n / len(records), 4),
                "precision_strict": round(strict / n, 4),
                "precision_lenient": round(lenient / n, 4),
            }
        )
    out.append(_near_title_precision(records, gold))
    return out


def _near_title_precision(records: list[dict[str, Any]], gold: dict) -> dict[str, Any]:
    """The title key, falling back on the title's head (:func:`jobclass.memory.keys.near_key`) where
    no other posting has the title: leave-one-out as above; the head-only rows are also counted apart."""
    from jobclass.memory.keys import memory_key, near_key

    coded = [r for r in records if memory_key(r.get("title")) and gold[r["id"]][0] != "none"]
    by_key: dict[str, list[str]] = defaultdict(list)
    by_head: dict[str, list[str]] = defaultdict(list)
    for r in coded:
        by_key[memory_key(r.get("title"))].append(r["id"])
        by_head[near_key(r.get("title"))].append(r["id"])
    n = strict = lenient = near = near_strict = 0
    for r in coded:
        p = r["id"]
        others = [o for o in by_key[memory_key(r.get("title"))] if o != p]
        from_head = not others
        if from_head:
            others = [o for o in by_head[near_key(r.get("title"))] if o != p]
        if not others:
            continue
        top = Counter(gold[o][0] for o in others).most_common(1)[0][0]
        n += 1
        strict += top == gold[p][0]
        lenient += top in gold[p][1]
        near += from_head
        near_strict += from_head and top == gold[p][0]
    return {
        "key": "title, else its head",
        "keys": len(by_key),
        "postings_with_a_shared_key": n,
        "share_of_stream": round(n / len(records), 4),
        "precision_strict": round(strict / n, 4),
        "precision_lenient": round(lenient / n, 4),
        "postings_from_the_head_only": near,
        "precision_strict_head_only": round(near_strict / max(near, 1), 4),
    }


def plot_curves(arms: list[dict[str, Any]], path: Path) -> None:
    """The share coded automatically and the decisions spent, night by night, one line per arm."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), layout="constrained")
    share, spent = figure.subplots(1, 2)
    for arm in arms:
        seen = [n["postings_so_far"] for n in arm["curve"]]
        label = f"{arm['arm']}, budget {arm['budget']:.0%}" + (" (bulk)" if arm["bulk"] else "")
        style = "-" if arm["arm"] == "memory" else "--"
        share.plot(seen, [n["automatic_share"] for n in arm["curve"]], style, label=label)
        spent.plot(seen, [n["decisions_so_far"] / max(s, 1) for n, s in zip(arm["curve"], seen)], style, label=label)
    share.set(xlabel="postings so far (publication order)", ylabel="coded automatically", ylim=(0, 1))
    spent.set(xlabel="postings so far (publication order)", ylabel="reviewer decisions / postings", ylim=(0, 1))
    share.legend(fontsize=7)
    figure.suptitle("The 793 USAJOBS postings, night by night (benchmarks/stream.py)", fontsize=9)
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the bundle to run (default: the registered champion)")
    parser.add_argument("--budget", type=float, action="append", help="decisions per night, as a share of its postings")
    parser.add_argument("--batch", choices=["day", "week"], default="day")
    parser.add_argument("--bulk", action="store_true", help="the reviewer applies each decision to all pending postings with the title")
    parser.add_argument("--keys", action="store_true", help="only the leave-one-out precision of each memory key")
    parser.add_argument("--no-baseline", action="store_true", help="skip today's behaviour (no memory)")
    parser.add_argument(
        "--dominant-share", type=float,
        help="sensitivity: an entry is a conflict below this share of its reviews (default: the product's, "
        "jobclass.memory.entries.DOMINANT_SHARE); a figure at another value than the default was chosen on this stream",
    )
    parser.add_argument(
        "--min-reviews-against-model", type=int,
        help="sensitivity: reviews a remembered code needs when the model does not rank it first (default: the product's)",
    )
    parser.add_argument(
        "--no-threshold-refit", action="store_true",
        help="ablation: keep the bundle's review threshold (do not refit it on the reviewed postings)",
    )
    parser.add_argument(
        "--bundle-threshold", type=float,
        help="replace the bundle's review threshold (fitted on the benchmark postings, which are part of this "
        "stream) with this one, for example 1.01: the model accepts nothing until the refit on reviewed postings",
    )
    parser.add_argument("--reviewer-seed", type=int, help="sensitivity: the reviewer takes one of the queue's first rows that settle as many, at random (this seed)")
    parser.add_argument("--queue-ignores-memory", action="store_true", help="ablation: the queue does not put last the postings that await a re-code from a decision on their title")
    parser.add_argument("--no-near-titles", action="store_true", help="ablation: the memory holds exact titles only (no fallback on a title's head)")
    parser.add_argument(
        "--pooled-near-threshold", action="store_true",
        help="ablation: codes from near titles are accepted at the exact titles' threshold (before their own was fitted)",
    )
    parser.add_argument("--no-backlog", action="store_true", help="ablation: no backlog step (pending postings are not re-coded)")
    parser.add_argument("--predictions", type=Path, help="cache of the model's predictions (Parquet): read when it exists, else written")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="draw the curves over the stream here (SVG or PNG)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("jobclass", "jobclass.airflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    gold = gold_codes()
    records = stream_records()
    keys = key_precision(records, gold)
    print(json.dumps({"keys": keys}, indent=1))
    if args.keys:
        return 0
    bundle = args.model
    if bundle is None:
        from jobclass.store.registry import get_champion
        from jobclass.store.schema import open_database

        champion = get_champion(open_database())
        if champion is None:
            parser.error("no champion is registered: pass --model BUNDLE")
        bundle = str(champion.path)
    if args.predictions and args.predictions.exists():
        cached = pd.read_parquet(args.predictions)
        model = PrecomputedModel(str(cached["model_version"].iloc[0]), cached.drop(columns=["model_version"]))
    else:
        model = precompute(bundle, records)
        if args.predictions:
            model.predictions.assign(model_version=model.version).to_parquet(args.predictions)
    if args.bundle_threshold is not None:
        log.warning("the model's threshold before any refit: %.3f (not the bundle's)", args.bundle_threshold)
        top1 = model.predictions[model.predictions["rank"] == 1].set_index("posting_id")["score"]
        flagged = model.predictions["posting_id"].map(top1 < args.bundle_threshold).astype(bool)
        model = PrecomputedModel(model.version, model.predictions.assign(needs_review=flagged.to_numpy()))
    if args.dominant_share is not None:
        import jobclass.memory.entries as entries

        log.warning("conflict below %.2f of an entry's reviews (the product's default: %.2f)", args.dominant_share, entries.DOMINANT_SHARE)
        entries.DOMINANT_SHARE = args.dominant_share
    if args.min_reviews_against_model is not None:
        import functools

        import jobclass.pipeline.memory as pipeline_memory
        from jobclass.memory.apply import MemorySettings

        log.warning("a code the model does not rank first needs %d reviews", args.min_reviews_against_model)
        pipeline_memory.MemorySettings = functools.partial(MemorySettings, min_reviews_against_model=args.min_reviews_against_model)
    if args.no_threshold_refit:
        log.warning("the model's review threshold is the bundle's (not refitted on reviewed postings)")
        _replace_settings(refit_model_threshold=False)
    if args.queue_ignores_memory:
        import jobclass.store.labels as store_labels

        log.warning("the queue does not put last the postings whose title was decided since they were coded")
        store_labels._DECIDED_KEYS = "dk AS (SELECT NULL AS memory_key, NULL AS decided_at WHERE 1 = 0)"
    if args.no_near_titles:
        log.warning("the memory holds exact titles only (no fallback on a title's head)")
        _replace_settings(near_titles=False)
    if args.pooled_near_threshold:
        import jobclass.memory.scorer as scorer

        log.warning("codes from near titles are accepted at the exact titles' threshold")
        fit_thresholds = scorer.MemoryScorer._fit_thresholds
        scorer.MemoryScorer._fit_thresholds = lambda self, X, y: (fit_thresholds(self, X, y)[0],) * 2
    nights = batches(records, args.batch)
    budgets = args.budget or [0.2, 0.35]
    results = []
    with tempfile.TemporaryDirectory(prefix="jobclass-stream-") as tmp:
        for budget in budgets:
            arms = [Arm("memory", True, "impact", budget, args.bulk, backlog=not args.no_backlog, reviewer_seed=args.reviewer_seed)]
            if not args.bulk and not args.no_baseline:  # today's behaviour: no memory, the queue newest run first, one posting a decision
                arms.append(Arm("baseline", False, "newest", budget))
            for arm in arms:
                outcome = run_arm(arm, model, nights, gold, Path(tmp), args.batch)
                results.append({"arm": arm.name, "budget": budget, "bulk": arm.bulk, **outcome.summary, "curve": outcome.nights})
                print(json.dumps({"arm": arm.name, "budget": budget, "bulk": arm.bulk, **outcome.summary}))
    import jobclass.memory.entries as entries
    from jobclass.pipeline.memory import MemorySettings as settings

    report = {"model": model.version, "backlog": not args.no_backlog, "bundle_threshold": args.bundle_threshold, "threshold_refit": not args.no_threshold_refit, "near_titles": not args.no_near_titles, "pooled_near_threshold": args.pooled_near_threshold, "queue_awaits_memory": not args.queue_ignores_memory, "reviewer_seed": args.reviewer_seed, "dominant_share": entries.DOMINANT_SHARE, "settings": str(settings()), "batch": args.batch, "nights": len(nights), "keys": keys, "arms": results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.plot:
        plot_curves(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
