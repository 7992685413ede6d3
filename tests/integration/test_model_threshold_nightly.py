"""Reviews pay back on the model's own predictions at the next nightly run: its review threshold is
refitted on the reviewed postings it coded, on SQLite and PostgreSQL, with a real (tiny) model."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import sqlalchemy as sa

from jobclass.memory.model_threshold import MIN_REVIEWED

DAY1, DAY2, DAY3 = "2026-11-25", "2026-11-26", "2026-11-27"
TITLES = [
    "Accountant", "Actuary", "Air Traffic Controller", "Archivist", "Auditor", "Biologist", "Budget Analyst",
    "Carpenter", "Chemist", "Civil Engineer", "Contract Specialist", "Correctional Officer", "Dental Hygienist",
    "Economist", "Electrician", "Firefighter", "Geologist", "Human Resources Specialist", "Hydrologist",
    "Industrial Hygienist", "Librarian", "Machinist", "Mechanical Engineer", "Medical Technologist",
    "Nurse Practitioner", "Pharmacist", "Physical Therapist", "Physicist", "Plumber", "Police Officer",
    "Psychologist", "Registered Nurse", "Social Worker", "Statistician", "Survey Statistician", "Veterinarian",
]
NEW_TITLES = ["Staff Accountant", "Clinical Pharmacist", "Wildlife Biologist", "Forensic Chemist", "Electrical Engineer"]


def _load(engine, day: str, titles: list[str], prefix: str) -> None:
    from jobclass.pipeline.ingest import load_records

    records = [{"id": f"{prefix}{i}", "title": t, "body": ""} for i, t in enumerate(titles)]
    load_records(engine, records, source="test", ingested_at=f"{day}T06:00:00Z")


def _top1(engine, prefix: str) -> dict[str, tuple[str, float, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT posting_id, onet_code, score, needs_review FROM predictions WHERE rank = 1 AND posting_id LIKE :p"),
            {"p": f"{prefix}%"},
        ).fetchall()
    return {r.posting_id: (r.onet_code, float(r.score), bool(r.needs_review)) for r in rows}


@pytest.mark.slow
def test_reviews_of_the_models_postings_refit_its_threshold_for_the_next_night(engine, tiny_classifier, tmp_path, caplog):
    from jobclass.pipeline.interval import classify_interval
    from jobclass.pipeline.memory import load_memory
    from jobclass.store.labels import CODED, Decision, record_decisions

    # A bundle that flags everything: without the refit, no posting would ever be accepted.
    strict = dataclasses.replace(tiny_classifier, settings=dataclasses.replace(tiny_classifier.settings, review_threshold=1.01))
    assert len(TITLES) >= MIN_REVIEWED
    _load(engine, DAY1, TITLES, "a")
    assert classify_interval(engine, strict, DAY1, DAY2, top_k=3, out_dir=tmp_path).status == "success"
    night1 = _top1(engine, "a")
    assert all(flagged for _, _, flagged in night1.values())

    # The reviewer agrees with the model's top 1 on all of them.
    record_decisions(engine, [Decision(p, CODED, code, "rita", strict.version) for p, (code, _, _) in night1.items()])
    refit = load_memory(engine, model_version=strict.version).model_threshold
    assert refit.refitted and refit.n_reviewed == len(TITLES) and refit.n_right == refit.n_accepted == len(TITLES)
    assert refit.threshold == pytest.approx(min(score for _, score, _ in night1.values()))
    # another model version's reviews say nothing about this one
    assert not load_memory(engine, model_version="another-version").model_threshold.refitted

    _load(engine, DAY2, NEW_TITLES, "b")
    with caplog.at_level(logging.INFO, logger="jobclass.pipeline.memory"):
        assert classify_interval(engine, strict, DAY2, DAY3, top_k=3, out_dir=tmp_path).status == "success"
    assert "the model's review threshold: " in caplog.text and "refitted on" in caplog.text
    night2 = _top1(engine, "b")
    assert {p: flagged for p, (_, _, flagged) in night2.items()} == {p: s < refit.threshold for p, (_, s, _) in night2.items()}
    assert any(not flagged for _, _, flagged in night2.values())  # accepted without review, from the model
    with engine.connect() as conn:
        sources = {r[0] for r in conn.execute(sa.text("SELECT DISTINCT source FROM predictions WHERE posting_id LIKE 'b%'"))}
    assert sources == {"model"}
