"""The ONNX Runtime encoder backends against the torch encoder they are exported from."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = [
    "registered nurse intensive care unit",
    "software developer",
    "Truck Driver - CDL A",
    "provide direct patient care assess patients administer medications document care plans " * 4,
    "",
]


@pytest.fixture(scope="module")
def onnx_classifiers(tiny_bundle_path):
    from jobclass.model.bundle import load_bundle

    return {backend: load_bundle(tiny_bundle_path, backend=backend) for backend in ("onnx", "onnx-int8")}


@pytest.fixture(scope="module")
def torch_classifier(tiny_bundle_path):
    from jobclass.model.bundle import load_bundle

    return load_bundle(tiny_bundle_path, backend="torch")


def test_the_default_backend_is_int8_onnx(tiny_classifier):
    from jobclass.model.onnx_encoder import OnnxEncoder

    assert tiny_classifier.settings.encoder_backend == "onnx-int8"
    assert isinstance(tiny_classifier.encoder, OnnxEncoder)


def test_fp32_export_gives_the_torch_embeddings(torch_classifier, onnx_classifiers):
    from jobclass.model.encoder import encode

    texts = [t for t in TEXTS if t]
    torch_vectors = encode(torch_classifier.encoder, texts)
    onnx_vectors = encode(onnx_classifiers["onnx"].encoder, texts)
    assert onnx_vectors.shape == torch_vectors.shape
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx_vectors * torch_vectors).sum(1).min() > 0.9999


def test_int8_export_stays_close_to_torch(torch_classifier, onnx_classifiers):
    from jobclass.model.encoder import encode

    texts = [t for t in TEXTS if t]
    cosine = (encode(onnx_classifiers["onnx-int8"].encoder, texts) * encode(torch_classifier.encoder, texts)).sum(1)
    assert cosine.min() > 0.97


def test_int8_backend_keeps_the_top1_of_official_titles(torch_classifier, onnx_classifiers, taxonomy):
    import pandas as pd

    titles = taxonomy.occupations["title"].head(300).tolist()
    frame = pd.DataFrame({"posting_id": [str(i) for i in range(len(titles))], "title": titles, "body": ""})
    top1 = {
        name: clf.predict_frame(frame, top_k=1)["onet_code"].to_numpy()
        for name, clf in {"torch": torch_classifier, **onnx_classifiers}.items()
    }
    assert (top1["onnx"] == top1["torch"]).mean() > 0.99
    assert (top1["onnx-int8"] == top1["torch"]).mean() > 0.95


def test_onnx_predictions_carry_every_column(onnx_classifiers):
    ranked = onnx_classifiers["onnx-int8"].predict("Registered Nurse - ICU", "Provide patient care.", top_k=3)
    assert [p.rank for p in ranked] == [1, 2, 3]
    assert all(p.soc6_code and p.major_group and p.backoff_level for p in ranked)
    assert ranked[0].evidence


def test_the_export_is_cached_per_weights(tiny_bundle_path, onnx_classifiers):
    from jobclass.model.onnx_encoder import ensure_onnx

    path = ensure_onnx(tiny_bundle_path / "encoder", "onnx-int8")
    before = path.stat().st_mtime_ns
    assert ensure_onnx(tiny_bundle_path / "encoder", "onnx-int8") == path
    assert path.stat().st_mtime_ns == before
    assert not list((tiny_bundle_path / "encoder").rglob("*.onnx")), "the hash-verified bundle is left alone"


def test_backend_from_the_environment(tiny_bundle_path, monkeypatch):
    from jobclass.model.bundle import load_bundle
    from jobclass.model.onnx_encoder import OnnxEncoder

    monkeypatch.setenv("JOBCLASS_ENCODER_BACKEND", "onnx")
    classifier = load_bundle(tiny_bundle_path)
    assert isinstance(classifier.encoder, OnnxEncoder) and classifier.encoder.path.name == "model.onnx"
    monkeypatch.setenv("JOBCLASS_ENCODER_BACKEND", "torch")
    assert not isinstance(load_bundle(tiny_bundle_path).encoder, OnnxEncoder)


def test_unknown_backend_is_refused(tiny_bundle_path):
    from jobclass.model.bundle import load_bundle

    with pytest.raises(ValueError, match="encoder backend must be one of"):
        load_bundle(tiny_bundle_path, backend="tensorrt")


def test_an_onnx_classifier_saves_the_torch_model_it_runs(onnx_classifiers, tiny_bundle_path, tmp_path):
    from jobclass.model.bundle import load_bundle, save_bundle, verify_bundle

    copy = save_bundle(onnx_classifiers["onnx-int8"], tmp_path / "copy")
    verify_bundle(copy)
    original = tiny_bundle_path / "encoder" / "model.safetensors"
    assert (copy / "encoder" / "model.safetensors").read_bytes() == original.read_bytes()
    assert load_bundle(copy, backend="torch").predict("Line Cook", "", top_k=1)[0].code


def test_empty_input_gives_no_rows(onnx_classifiers):
    from jobclass.model.encoder import encode

    assert encode(onnx_classifiers["onnx"].encoder, []).shape == (0, 384)


def test_a_second_export_to_the_same_place_keeps_the_first(tiny_bundle_path, tmp_path):
    from jobclass.model.onnx_encoder import export_onnx

    out = tmp_path / "onnx"
    first = export_onnx(tiny_bundle_path / "encoder", out, quantize=False)["onnx"]
    stamp = first.stat().st_mtime_ns
    export_onnx(tiny_bundle_path / "encoder", out, quantize=False)
    assert first.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"], "no temporary export is left behind"


def test_without_onnxruntime_the_torch_encoder_serves(tiny_bundle_path, monkeypatch, caplog):
    import jobclass.model.onnx_encoder as onnx_encoder

    def missing(*args, **kwargs):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(onnx_encoder, "ensure_onnx", missing)
    with caplog.at_level("WARNING"):
        encoder = onnx_encoder.load_encoder_backend(tiny_bundle_path / "encoder", "onnx-int8", device="cpu")
    assert not isinstance(encoder, onnx_encoder.OnnxEncoder)
    assert "JOBCLASS_ENCODER_BACKEND=torch" in caplog.text
