"""An encoder whose tokenizer gives no ``token_type_ids`` (MPNet, RoBERTa) exports to ONNX too.

The opt-in all-mpnet-base-v2 is such an encoder: before the export took its inputs from the
tokenizer, a bundle trained from it (``jobclass train --base-encoder all-mpnet-base-v2``) failed in
the nightly's default int8 backend with ``KeyError: 'token_type_ids'``. Here the base MiniLM is
copied with a tokenizer told to give only ``input_ids`` and ``attention_mask`` (BERT takes zeros
for the missing segment ids), so the path runs without the 420 MB mpnet download.
"""

from __future__ import annotations

import json
import shutil

import numpy as np


def test_a_tokenizer_without_token_type_ids_exports_and_matches_torch(tmp_path):
    from jobclass.model.base_encoders import minilm_dir
    from jobclass.model.encoder import encode, load_encoder
    from jobclass.model.onnx_encoder import OnnxEncoder, export_onnx

    encoder_dir = tmp_path / "two-inputs"
    shutil.copytree(minilm_dir(), encoder_dir)
    config_file = encoder_dir / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["model_input_names"] = ["input_ids", "attention_mask"]
    config_file.write_text(json.dumps(config))

    files = export_onnx(encoder_dir, tmp_path / "export", quantize=False)
    onnx = OnnxEncoder(files["onnx"])
    assert onnx._inputs == {"input_ids", "attention_mask"}
    texts = ["registered nurse", "provide direct patient care and document care plans"]
    expected = encode(load_encoder(encoder_dir, device="cpu"), texts)
    assert (encode(onnx, texts) * expected).sum(1).min() > 0.9999
    assert np.allclose(np.linalg.norm(encode(onnx, texts), axis=1), 1.0, atol=1e-5)
