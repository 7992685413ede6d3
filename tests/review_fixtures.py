"""A small review queue for the labels tests: postings, two runs of top-5 predictions (real O*NET
codes and titles), some flagged ``needs_review``. Written straight into a jobclass database."""

from __future__ import annotations

import sqlalchemy as sa

MODEL = "20261201T000000Z-default-aaaaaaaa"
OLD_RUN = "2026-11-30T02:00:00.000000Z/2026-12-01T02:00:00.000000Z/" + MODEL
NEW_RUN = "2026-12-01T02:00:00.000000Z/2026-12-02T02:00:00.000000Z/" + MODEL
RUNS = [
    (OLD_RUN, "2026-11-30T02:00:00.000000Z", "2026-12-01T02:00:00.000000Z", "2026-12-01T02:05:00.000000Z"),
    (NEW_RUN, "2026-12-01T02:00:00.000000Z", "2026-12-02T02:00:00.000000Z", "2026-12-02T02:05:00.000000Z"),
]
# posting id, title, body, run, top-1 score, needs_review, the top-5 codes
POSTINGS = [
    ("n1", "Staff Nurse - ICU", "Our hospital is proud of its history. Provide direct patient care in the ICU. "
     "Administer medications to patients. Apply online today.", NEW_RUN, 0.41, True,
     ["29-1141.00", "29-1171.00", "29-2061.00", "31-1131.00", "29-1229.00"]),
    ("n2", "Software Engineer II", "You will design and build services for our platform. We offer great benefits.",
     NEW_RUN, 0.35, True, ["15-1252.00", "15-1253.00", "15-1211.00", "15-1299.08", "15-1244.00"]),
    ("n3", "Welder", "Weld steel frames. Read blueprints.", NEW_RUN, 0.95, False,
     ["51-4121.00", "51-4122.00", "49-9071.00", "47-2211.00", "51-2041.00"]),
    ("o1", "Accountant", "Prepare tax returns for clients.", OLD_RUN, 0.62, True,
     ["13-2011.00", "13-2082.00", "43-3031.00", "13-2051.00", "11-3031.00"]),
    ("o2", "Team Lead", "Join a great team.", OLD_RUN, 0.12, True,
     ["11-1021.00", "41-1012.00", "43-1011.00", "11-9199.00", "13-1111.00"]),
]


def seed_review_queue(engine: sa.Engine, taxonomy) -> None:
    """The postings, runs and predictions above (ranks 2..5 score less than the top 1)."""
    title_of = taxonomy.title_of
    with engine.begin() as conn:
        for run_id, start, end, started in RUNS:
            conn.execute(
                sa.text(
                    "INSERT INTO prediction_runs (run_id, interval_start, interval_end, model_version, partition_date, "
                    "status, started_at) VALUES (:r, :s, :e, :m, :d, 'success', :t)"
                ),
                {"r": run_id, "s": start, "e": end, "m": MODEL, "d": start[:10], "t": started},
            )
        for pid, title, body, run_id, score, review, codes in POSTINGS:
            conn.execute(
                sa.text("INSERT INTO job_postings (id, title, body, source, ingested_at) VALUES (:i, :t, :b, 'test', :a)"),
                {"i": pid, "t": title, "b": body, "a": run_id[:27]},
            )
            for rank, code in enumerate(codes, 1):
                s = score if rank == 1 else round(score / (rank + 1), 4)
                conn.execute(
                    sa.text(
                        "INSERT INTO predictions (posting_id, model_version, rank, onet_code, onet_title, score, "
                        "soc6_code, soc6_score, major_group, major_group_score, needs_review, backoff_level, evidence, "
                        "evidence_score, run_id, partition_date, predicted_at) VALUES (:p, :m, :r, :c, :t, :s, :c6, :s, "
                        ":g, :s, :n, 'detailed', :ev, :s, :run, :d, :at)"
                    ),
                    {
                        "p": pid, "m": MODEL, "r": rank, "c": code, "t": title_of[code], "s": s, "c6": code[:7],
                        "g": code[:2], "n": review, "ev": f"{title_of[code]} (title)", "run": run_id,
                        "d": run_id[:10], "at": run_id[28:55],
                    },
                )
