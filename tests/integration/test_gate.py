"""The promotion gate never promotes by accident (issue 16, item 1).

A champion that cannot be evaluated fails the decision (recorded, nothing promoted) unless the
promotion is forced, and then it is recorded as forced; ``jobclass train --promote if-better`` takes
the retrain's path and scores both models on the same frozen set, never trusting a stored score; the
primary gate set does not move when reviewed labels are added, and those labels are a second gate.
The models are the session's tiny real bundle and a copy of it with scrambled heads.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from test_dags import (  # the retrain DAG's fixtures and helpers (test_dags configures Airflow first)
    ONE_DB,
    TINY_RETRAIN,
    _task_states,
    airflow_db,  # noqa: F401  (fixture)
    jobclass_env,  # noqa: F401  (fixture)
    retrain,  # noqa: F401  (fixture)
)

EVAL_LIMIT = 200  # a fixed subsample of the reported titles: seconds, not minutes
PARAMS = {"gate_metric": "acc@1", "min_improvement": 0.0, "eval_limit": EVAL_LIMIT, "device": "cpu"}


@pytest.fixture(scope="module")
def degraded_bundle(tiny_bundle_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with its heads scrambled: a model the tiny one clearly beats."""
    import numpy as np

    from jobclass.model.bundle import load_bundle, save_bundle

    clf = load_bundle(tiny_bundle_path)
    rng = np.random.default_rng(0)
    clf.logistic.coef = rng.permutation(clf.logistic.coef)
    clf.logistic.intercept = rng.permutation(clf.logistic.intercept)
    clf.index.labels = rng.permutation(clf.index.labels)
    clf.profile.centroids = rng.permutation(clf.profile.centroids)
    clf.metadata = {**clf.metadata, "version": "degraded"}
    return save_bundle(clf, tmp_path_factory.mktemp("degraded") / "degraded")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data home: reports and workdirs of one test stay apart from the others'."""
    monkeypatch.setenv("JOBCLASS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _champion(engine, path: Path, version: str, metrics: dict | None = None) -> None:
    from jobclass.store.registry import promote, register_model

    register_model(engine, version, path, metrics or {}, None)
    promote(engine, version, "test champion")


def _corrupt_champion(engine, tiny_bundle_path: Path, tmp_path: Path) -> str:
    """A champion that verified when promoted, whose heads file was then overwritten."""
    path = shutil.copytree(tiny_bundle_path, tmp_path / "champion")
    _champion(engine, path, "corrupt-champion")
    (path / "heads.safetensors").write_bytes(b"not a safetensors file")
    return "corrupt-champion"


def _training_set(tmp_path: Path, labels: pd.DataFrame | None = None) -> dict:
    """What build_training_set hands on: here only the held-out labels matter."""
    holdout = labels if labels is not None else pd.DataFrame(columns=["posting_id", "title", "body", "onet_code"])
    path = tmp_path / f"holdout-{len(holdout)}.parquet"
    holdout.astype(str).to_parquet(path, index=False)
    return {"labels_train": str(path), "labels_holdout": str(path), "n_labels_train": 0, "n_labels_holdout": len(holdout)}


def _challenger(engine, path: Path, version: str = "new-challenger") -> dict:
    from jobclass.store.registry import register_model

    register_model(engine, version, path, {}, None, status="challenger", reason="test challenger")
    return {"version": version, "path": str(path)}


# =========================================================================== a champion that cannot be evaluated


def test_a_champion_that_cannot_be_evaluated_fails_the_gate_and_is_recorded(
    engine, tiny_bundle_path, tmp_path, home
):
    """The DAG's steps 5-8: a corrupt champion heads file fails the decision; nothing is promoted."""
    from jobclass.pipeline import gate as orch
    from jobclass.pipeline.errors import GateFailedError
    from jobclass.store.registry import get_champion, get_model

    champion = _corrupt_champion(engine, tiny_bundle_path, tmp_path)
    challenger = _challenger(engine, tiny_bundle_path)
    training_set = _training_set(tmp_path)

    evaluation = orch.evaluate_models(engine, challenger, training_set, PARAMS)
    assert "BundleError" in evaluation["champion_error"] and evaluation["champion"] is None
    decision = orch.decide(evaluation, PARAMS)
    assert decision["promote"] is False and decision["failed"] is True and decision["forced"] is False
    assert f"champion {champion} could not be evaluated: BundleError" in decision["reason"]
    assert "re-run, or trigger with force_promote=true (jobclass train: --promote always)" in decision["reason"]

    orch.keep_champion(engine, challenger, decision)
    with pytest.raises(GateFailedError, match="could not be evaluated"):
        orch.record_and_report(engine, challenger, evaluation, decision, PARAMS, training_set)

    assert get_champion(engine).version == champion
    recorded = get_model(engine, challenger["version"])
    assert recorded.status == "challenger" and "could not be evaluated" in recorded.reason
    gate = recorded.metrics["gate"]
    assert gate["decision"] == "failed" and gate["forced"] is False and "BundleError" in gate["champion_error"]
    report = (home / "reports" / f"{challenger['version']}.html").read_text(encoding="utf-8")
    assert "Decision: failed" in report and "force_promote=true" in report
    if "real-postings" in evaluation["benchmarks"]:  # once load_benchmark has it: scored, for the report only
        assert evaluation["benchmarks"]["real-postings"]["role"] == "report only"
        assert "real-postings: report only" in report


def test_a_forced_promotion_over_an_unevaluable_champion_is_recorded_as_forced(
    engine, tiny_bundle_path, tmp_path, home
):
    from jobclass.pipeline import gate as orch
    from jobclass.store.registry import get_champion, get_model

    champion = _corrupt_champion(engine, tiny_bundle_path, tmp_path)
    challenger = _challenger(engine, tiny_bundle_path)
    params = {**PARAMS, "force_promote": True}

    result = orch.run_gate(engine, challenger, _training_set(tmp_path), params, origin="weekly retrain")

    assert result["decision"] == "promoted (forced)"
    promoted = get_champion(engine)
    assert promoted.version == challenger["version"]
    assert promoted.reason.startswith("weekly retrain: FORCED by force_promote=true")
    assert "champion corrupt-champion could not be evaluated" in promoted.reason
    assert promoted.metrics["gate"]["forced"] is True and promoted.metrics["gate"]["decision"] == "promoted (forced)"
    assert get_model(engine, champion).status == "retired"
    report = (home / "reports" / f"{challenger['version']}.html").read_text(encoding="utf-8")
    assert "promoted (forced)" in report


# =========================================================================== jobclass train --promote if-better


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({}, id="champion-metric-missing"),
        pytest.param(
            {"reported-titles": {"acc@1": 0.0, "benchmark_hash": "sha256:another-benchmark-version"}},
            id="champion-metric-from-another-benchmark",
        ),
    ],
)
def test_cli_if_better_rescores_the_champion_on_the_same_frozen_set(
    stored, engine, database_url, tiny_bundle_path, degraded_bundle, home
):
    """A champion's stored score that is missing, or from another benchmark, is never compared
    against: both models are scored now, so the scrambled challenger's claimed 0.9 does not win."""
    from jobclass.cli.model_commands import register_and_gate
    from jobclass.store.registry import get_champion, get_model

    _champion(engine, tiny_bundle_path, "good-champion", stored)
    claimed = {"reported-titles": {"acc@1": 0.9, "benchmark_hash": "sha256:another-benchmark-version"}}
    metadata = {"metrics": claimed, "benchmark_hash": "sha256:another-benchmark-version"}

    register_and_gate("scrambled", degraded_bundle, metadata, "if-better", database_url, EVAL_LIMIT)

    assert get_champion(engine).version == "good-champion"
    challenger = get_model(engine, "scrambled")
    assert challenger.status == "rejected"
    gate = challenger.metrics["gate"]
    primary = gate["benchmarks"]["reported-titles"]
    assert primary["rows"] == EVAL_LIMIT and gate["benchmark_hash"] == primary["hash"] == challenger.benchmark_hash
    assert gate["champion"]["acc@1"] > gate["challenger"]["acc@1"]  # measured now, on the same rows
    assert challenger.metrics["reported-titles"]["benchmark_hash"] == primary["hash"]  # the claim was replaced
    assert "does not beat champion good-champion" in gate["reason"]


def test_cli_promote_always_is_recorded_as_forced(engine, database_url, tiny_bundle_path, degraded_bundle, home):
    from jobclass.cli.model_commands import register_and_gate
    from jobclass.store.registry import get_champion

    _champion(engine, tiny_bundle_path, "good-champion")
    register_and_gate("scrambled", degraded_bundle, {"metrics": {}}, "always", database_url, EVAL_LIMIT)
    champion = get_champion(engine)
    assert champion.version == "scrambled" and champion.reason.startswith("jobclass train: FORCED")
    assert champion.metrics["gate"]["decision"] == "promoted (forced)"


# =========================================================================== the frozen set, and the labels gate


def _labels(n: int, taxonomy) -> pd.DataFrame:
    """``n`` reviewed labels: occupation titles with a short duty sentence, under their own codes."""
    occupations = taxonomy.occupations.head(n)
    return pd.DataFrame(
        {
            "posting_id": [f"p{i}" for i in range(n)],
            "title": occupations["title"].tolist(),
            "body": [f"Performs the duties of a {t.lower()}." for t in occupations["title"]],
            "onet_code": occupations["code"].tolist(),
        }
    )


def test_the_primary_gate_set_does_not_change_when_labels_are_added(engine, tiny_bundle_path, tmp_path, taxonomy):
    from jobclass.evaluation.benchmark import make_benchmark
    from jobclass.evaluation.sets import load_benchmark
    from jobclass.pipeline import gate as orch

    challenger = {"version": "c", "path": str(tiny_bundle_path)}
    without = orch.evaluate_models(engine, challenger, _training_set(tmp_path), PARAMS)
    labels = _labels(40, taxonomy)
    with_labels = orch.evaluate_models(engine, challenger, _training_set(tmp_path, labels), PARAMS)

    frozen = load_benchmark("reported-titles", taxonomy).frame.sample(n=EVAL_LIMIT, random_state=0)
    assert without["benchmark_hash"] == with_labels["benchmark_hash"] == make_benchmark("x", frozen).content_hash
    assert without["benchmark_rows"] == with_labels["benchmark_rows"] == EVAL_LIMIT
    held_out = with_labels["benchmarks"][orch.HELD_OUT_NAME]
    assert held_out["rows"] == 40 and held_out["role"] == "no-regression gate"
    assert orch.HELD_OUT_NAME not in without["benchmarks"]
    assert orch.HELD_OUT_NAME not in without["scores"]

    # The held-out labels are scored: the challenger's acc@1 and acc@5 on exactly these 40 rows, as
    # its own predictions give them one by one; no champion is registered, so it has no score.
    from jobclass.model.bundle import load_bundle

    classifier = load_bundle(tiny_bundle_path, device="cpu")
    ranked = [[p.code for p in classifier.predict(t, b, top_k=5)] for t, b in zip(labels["title"], labels["body"])]
    expected = {
        "acc@1": sum(codes[0] == code for codes, code in zip(ranked, labels["onet_code"])) / 40,
        "acc@5": sum(code in codes for codes, code in zip(ranked, labels["onet_code"])) / 40,
    }
    assert expected["acc@5"] > 0  # the labels are occupation titles: the tiny model finds some of them
    scored = with_labels["scores"][orch.HELD_OUT_NAME]
    assert scored["champion"] is None
    assert {k: scored["challenger"][k] for k in expected} == pytest.approx(expected, abs=1e-9)
    metrics = with_labels["details"]["challenger"]["metrics"][orch.HELD_OUT_NAME]
    assert (metrics["benchmark"], metrics["benchmark_hash"]) == (orch.HELD_OUT_NAME, held_out["hash"])
    assert metrics["acc@1"] == pytest.approx(expected["acc@1"], abs=1e-9)


def _evaluation(primary: tuple[float, float], labels: tuple[float, float] | None, rows: int) -> dict:
    evaluation = {
        "challenger_version": "new",
        "champion_version": "old",
        "challenger": {"acc@1": primary[0]},
        "champion": {"acc@1": primary[1]},
        "benchmarks": {"reported-titles": {"rows": 7796}},
        "scores": {},
    }
    if labels:
        evaluation["benchmarks"]["held-out"] = {"rows": rows}
        evaluation["scores"]["held-out"] = {"challenger": {"acc@1": labels[0]}, "champion": {"acc@1": labels[1]}}
    return evaluation


@pytest.mark.parametrize(
    ("primary", "labels", "rows", "promote", "words"),
    [
        ((0.52, 0.50), (0.70, 0.80), 40, False, "regresses on the 40 held-out reviewed labels"),
        ((0.52, 0.50), (0.79, 0.80), 40, True, "beats"),  # within the tolerance
        ((0.52, 0.50), (0.50, 0.80), 29, True, "beats"),  # too few labels to gate on
        ((0.52, 0.50), None, 0, True, "beats"),
        ((0.50, 0.52), (0.90, 0.80), 40, False, "does not beat"),  # labels never promote on their own
    ],
)
def test_held_out_labels_are_a_second_gate(primary, labels, rows, promote, words):
    from jobclass.pipeline.gate import decide

    decision = decide(_evaluation(primary, labels, rows), {"gate_metric": "acc@1", "labels_tolerance": 0.02})
    assert decision["promote"] is promote and words in decision["reason"]


def test_a_champion_without_a_score_never_promotes():
    from jobclass.pipeline.gate import decide

    evaluation = {"challenger_version": "new", "champion_version": "old", "challenger": {"acc@1": 0.9}, "champion": None}
    decision = decide(evaluation, {})
    assert decision["promote"] is False and decision["failed"] is True
    dry = decide(evaluation, {"dry_run": True, "force_promote": True})
    assert dry["promote"] is False and dry["forced"] is True and dry["reason"].startswith("dry run, would promote")


def test_recording_a_decision_never_demotes_the_champion(engine, monkeypatch, tmp_path):
    from jobclass.store import registry

    monkeypatch.setattr(registry, "verify_model_bundle", lambda path: None)
    registry.register_model(engine, "v1", tmp_path / "v1", {}, None)
    registry.promote(engine, "v1", "first")
    with pytest.raises(ValueError, match="is the champion"):
        registry.record_decision(engine, "v1", "rejected", "a stray keep_champion")
    assert registry.get_champion(engine).version == "v1"


# =========================================================================== the promotion is a compare-and-swap

DECIDED = {"promote": True, "reason": "challenger acc@1=0.6000 beats champion old-champion acc@1=0.5000"}


def _promote_by_hand_before_the_gate_writes(engine, version: str) -> list[str]:
    """Hook the engine: just before the gate's first write to ``model_versions`` (its swap), on the
    gate's own thread, ``version`` is promoted by hand through the registry and committed. Returns the
    list of the versions the hook promoted (once, at most)."""
    from jobclass.store import registry

    gate_thread, done = threading.get_ident(), []

    def promote_by_hand(conn, cursor, statement, *args) -> None:
        if statement.lstrip().startswith("UPDATE model_versions") and threading.get_ident() == gate_thread and not done:
            done.append(version)  # first: the manual promotion's own UPDATEs pass through this hook too
            registry.promote(engine, version, "promoted by hand")

    sa.event.listen(engine, "before_cursor_execute", promote_by_hand)
    return done


def test_a_manual_promotion_between_the_gate_s_check_and_its_swap_is_never_overwritten(engine, tiny_bundle_path):
    """The gate evaluated against old-champion; a person promotes "manual" after the gate's check and
    before its swap. The swap compares and refuses: "manual" stays the champion, and the refusal is
    the challenger's recorded decision (before: the gate retired "manual" without comparing)."""
    from jobclass.pipeline import gate as orch
    from jobclass.pipeline.errors import StaleComparisonError
    from jobclass.store.registry import register_model

    _champion(engine, tiny_bundle_path, "old-champion")
    challenger = _challenger(engine, tiny_bundle_path)
    register_model(engine, "manual", tiny_bundle_path, {}, None)
    manual = _promote_by_hand_before_the_gate_writes(engine, "manual")

    message = (
        "the champion changed from old-champion to manual during this retrain; not promoting on a stale comparison"
    )
    with pytest.raises(StaleComparisonError, match=message):
        orch.promote_challenger(engine, challenger, {"champion_version": "old-champion"}, DECIDED)

    assert manual == ["manual"]  # the hook ran, once, between the gate's check and its swap
    assert _models(engine) == {
        "manual": ("champion", "promoted by hand"),
        "old-champion": ("retired", "replaced by manual: promoted by hand"),
        "new-challenger": (
            "challenger",
            f"weekly retrain: promotion refused: {message}. Re-run the retrain. (the gate: {DECIDED['reason']})",
        ),
    }


def test_the_gate_swaps_the_champion_it_compared_against_and_a_retry_finds_it_done(engine, tiny_bundle_path):
    from jobclass.pipeline import gate as orch

    _champion(engine, tiny_bundle_path, "old-champion")
    challenger = _challenger(engine, tiny_bundle_path)
    evaluation = {"champion_version": "old-champion"}

    assert orch.promote_challenger(engine, challenger, evaluation, DECIDED) == {
        "status": "champion",
        "version": "new-challenger",
    }
    expected = {
        "old-champion": ("retired", f"replaced by new-challenger: weekly retrain: {DECIDED['reason']}"),
        "new-challenger": ("champion", f"weekly retrain: {DECIDED['reason']}"),
    }
    assert _models(engine) == expected
    # The task retried after its promotion committed: the champion is the challenger, nothing changes.
    assert orch.promote_challenger(engine, challenger, evaluation, DECIDED) == {
        "status": "champion",
        "version": "new-challenger",
    }
    assert _models(engine) == expected


def _models(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT version, status, reason FROM model_versions"))
        return {version: (status, reason) for version, status, reason in found}


# =========================================================================== the DAG, end to end


@pytest.mark.slow
@pytest.mark.parametrize("database_url", [ONE_DB], indirect=True)
def test_the_retrain_dag_fails_without_promoting_when_the_champion_is_corrupt(
    retrain, jobclass_env, tiny_bundle_path, tmp_path  # noqa: F811  (fixtures)
):
    from jobclass.store.registry import get_champion, list_models

    engine = jobclass_env
    champion = _corrupt_champion(engine, tiny_bundle_path, tmp_path)
    run = retrain.test(run_conf=TINY_RETRAIN)
    states = _task_states(run)
    assert str(run.state) == "failed", states
    assert states["promote"] == "skipped" and states["keep_champion"] == "success", states
    assert states["record_and_report"] == "failed" and states["prune"] == "success", states

    assert get_champion(engine).version == champion
    [challenger] = [m for m in list_models(engine) if m.version != champion]
    assert challenger.status == "challenger" and "could not be evaluated" in challenger.reason
    assert challenger.metrics["gate"]["decision"] == "failed"
    assert (Path(os.environ["JOBCLASS_HOME"]) / "reports" / f"{challenger.version}.html").is_file()
