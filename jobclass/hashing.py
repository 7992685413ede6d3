"""Stable content hashes: for frozen benchmarks, training corpora and hash-based splits."""

from __future__ import annotations

import hashlib

import pandas as pd


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
