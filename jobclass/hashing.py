"""Stable content hashes: for files, frozen benchmarks, training corpora and hash-based splits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_hash(frame: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 of the rows' tab-joined values, order-independent."""
    rows = sorted("\t".join("" if pd.isna(v) else str(v) for v in row) for row in frame[columns].itertuples(index=False))
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.encode("utf-8") + b"\n")
    return "sha256:" + digest.hexdigest()


def bucket(key: str, buckets: int = 100) -> int:
    """A stable bucket in [0, buckets) for ``key``: the same on every machine and run."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") % buckets
