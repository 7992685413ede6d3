"""A model bundle saved before the re-layout (commit d79e02e, flat modules) loads and predicts the same.

The fixture and how it was made: ``tests/fixtures/make_bundle_d79e02e.py``.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BUNDLE = FIXTURES / "bundle_d79e02e"
EXPECTED = FIXTURES / "bundle_d79e02e.expected.json"


def restore_bundle(target: Path) -> Path:
    """The fixture as ``save_bundle`` wrote it: heads un-gzipped, the encoder weights re-created.

    The bundle's recipe is ``bootstrap``: its encoder is the untuned base MiniLM, so its weights are
    the base model saved again; their SHA-256 must be the one the old code recorded.
    """
    from jobclass.hashing import file_sha256
    from jobclass.model.encoder import load_encoder

    shutil.copytree(BUNDLE, target)
    with gzip.open(target / "heads.safetensors.gz") as src, open(target / "heads.safetensors", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (target / "heads.safetensors.gz").unlink()
    base = target.parent / "base_encoder"
    load_encoder(device="cpu").save(str(base))
    shutil.copy(base / "model.safetensors", target / "encoder" / "model.safetensors")
    recorded = json.loads((target / "metadata.json").read_text())["files"]["encoder/model.safetensors"]
    assert file_sha256(target / "encoder" / "model.safetensors") == recorded, (
        "re-saving the base MiniLM no longer gives the bytes of d79e02e (a sentence-transformers or "
        "safetensors upgrade?): re-make the fixture with tests/fixtures/make_bundle_d79e02e.py"
    )
    return target


@pytest.mark.slow
def test_a_bundle_saved_before_the_relayout_loads_and_predicts_the_same(tmp_path):
    """Scored on the fp32 torch backend, the old bundle gives the old code's top-5 and scores (to 1e-3).

    ``predictions_torch`` was recorded by d79e02e's code on this bundle with ``backend="torch"``.
    The bundle's own backend (int8 ONNX) is checked too, but less tightly: int8 kernels differ
    between CPUs (VNNI or not), so its scores move by a few hundredths from one machine to another
    (0.707 where the fixture was made, 0.739 on another Xeon, with d79e02e's code on both), and
    a near tie can swap: the int8 check is the same five codes with scores within 0.05.
    """
    from jobclass.model.bundle import load_bundle, verify_bundle

    path = restore_bundle(tmp_path / "bundle_d79e02e")
    verify_bundle(path)
    expected = json.loads(EXPECTED.read_text())

    exact = load_bundle(path, backend="torch")
    assert exact.version == expected["version"]
    for case in expected["predictions_torch"]:
        got = exact.predict(case["title"], case["body"], top_k=5)
        assert [p.code for p in got] == [code for code, _ in case["top5"]], case["title"] or case["body"]
        assert [float(p.score) for p in got] == pytest.approx([score for _, score in case["top5"]], abs=1e-3)

    classifier = load_bundle(path)
    assert classifier.settings.encoder_backend == expected["backend"]
    for case in expected["predictions"]:  # the same five codes; a near tie (0.405 vs 0.403) may swap
        got = {p.code: float(p.score) for p in classifier.predict(case["title"], case["body"], top_k=5)}
        assert set(got) == {code for code, _ in case["top5"]}, case["title"] or case["body"]
        assert [got[code] for code, _ in case["top5"]] == pytest.approx([s for _, s in case["top5"]], abs=0.05)


@pytest.mark.slow
def test_a_bundle_saved_before_the_relayout_can_be_registered_and_promoted(tmp_path, engine):
    """Registered and promoted with its recorded file hashes checked (a copy with one byte changed is
    refused), it is the champion the nightly resolves, and loaded from the registry's path it predicts
    what d79e02e's code predicted."""
    from jobclass.model.bundle import BundleError, load_bundle
    from jobclass.pipeline.nightly import resolve_champion
    from jobclass.store.registry import get_champion, get_model, list_models, promote, register_model

    path = restore_bundle(tmp_path / "bundle_d79e02e")
    expected = json.loads(EXPECTED.read_text())
    version = json.loads((path / "metadata.json").read_text())["version"]
    assert version == expected["version"]

    registered = register_model(engine, version, str(path), metrics={}, benchmark_hash="")
    assert (registered.version, registered.status, registered.path) == (version, "challenger", str(path.resolve()))
    assert registered.promoted_at is None

    tampered = Path(shutil.copytree(path, tmp_path / "tampered"))
    heads = bytearray((tampered / "heads.safetensors").read_bytes())
    heads[-1] ^= 0xFF
    (tampered / "heads.safetensors").write_bytes(bytes(heads))
    register_model(engine, "tampered", str(tampered), metrics={}, benchmark_hash="")
    with pytest.raises(BundleError, match=r"corrupt: heads\.safetensors do not match metadata\.json"):
        promote(engine, "tampered", "must be refused")
    assert get_champion(engine) is None and get_model(engine, "tampered").status == "challenger"

    champion = promote(engine, version, "a bundle saved by d79e02e")
    assert (champion.version, champion.status, champion.path, champion.reason) == (
        version,
        "champion",
        str(path.resolve()),
        "a bundle saved by d79e02e",
    )
    assert champion.promoted_at and get_champion(engine) == champion
    assert {m.version: m.status for m in list_models(engine)} == {version: "champion", "tampered": "challenger"}

    served = resolve_champion(engine, bootstrap=False)  # what the nightly run loads
    assert served == {"version": version, "path": str(path.resolve())}
    classifier = load_bundle(served["path"], backend="torch")
    for case in expected["predictions_torch"]:
        got = classifier.predict(case["title"], case["body"], top_k=5)
        assert [p.code for p in got] == [code for code, _ in case["top5"]], case["title"] or case["body"]
        assert [float(p.score) for p in got] == pytest.approx([score for _, score in case["top5"]], abs=1e-3)
