"""A frozen benchmark: a table of (title, body, code) with the content hash stored with every result."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from jobclass.hashing import frame_hash
from jobclass.model.cleaning import normalize_title

BENCHMARK_COLUMNS = ["title", "body", "code"]
#: Optional columns a benchmark may carry: codes as defensible as ``code`` (lenient accuracy), the
#: posting's form (``titled`` or ``untitled``), the coder's confidence and the posting id.
OPTIONAL_COLUMNS = ["also_ok", "form", "confidence", "posting_id"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    frame: pd.DataFrame  # title, body, code (+ the optional columns)
    content_hash: str

    @property
    def title_keys(self) -> set[str]:
        """Normalised titles that must never be trained on or indexed."""
        return set(self.frame["title"].map(normalize_title))

    def __len__(self) -> int:
        return len(self.frame)


def make_benchmark(name: str, frame: pd.DataFrame) -> Benchmark:
    """A benchmark over ``frame``; the hash covers title, body, code (and ``also_ok`` when present)."""
    columns = BENCHMARK_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in frame.columns]
    frame = frame[columns].reset_index(drop=True)
    hashed = BENCHMARK_COLUMNS + (["also_ok"] if "also_ok" in frame.columns else [])
    return Benchmark(name=name, frame=frame, content_hash=frame_hash(frame, hashed))


def read_keyed_csv(path, columns, key: str) -> pd.DataFrame:
    """A vendored CSV as text (no NaN), checked: every column of ``columns`` present and ``key`` unique."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    if frame[key].duplicated().any():
        raise ValueError(f"{path}: duplicate {key}s {frame.loc[frame[key].duplicated(), key].tolist()[:5]}")
    return frame
