"""Request and response models, with the input limits.

Input is validated with pydantic: title <= 500 characters, body <= 100,000 UTF-8 bytes,
top_k 1..20, no unknown fields; ``limit`` is 1..200 (default 50) and ``offset`` 0..1,000,000.
``/models`` leaves out the bundle path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TITLE_CHARS = 500
MAX_BODY_BYTES = 100_000
MAX_TOP_K = 20
DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_OFFSET = 1_000_000


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field("", max_length=MAX_TITLE_CHARS, description="Posting title (at most 500 characters).")
    body: str = Field("", description="Posting text (at most 100,000 UTF-8 bytes).")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Number of ranked codes to return (1..20).")

    @field_validator("body")
    @classmethod
    def _body_size(cls, value: str) -> str:
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size > MAX_BODY_BYTES:
            raise ValueError(f"body is {size:,} bytes; the limit is {MAX_BODY_BYTES:,} bytes")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PredictRequest:
        if not self.title.strip() and not self.body.strip():
            raise ValueError("title and body are both empty; give at least one")
        return self


class PredictionOut(BaseModel):
    """One ranked code (``jobclass.model.classifier.Prediction``, less its internal scores)."""

    rank: int
    code: str
    title: str
    score: float
    soc6_code: str | None = None
    major_group: str | None = None
    needs_review: bool | None = None
    evidence: str | None = None


class PredictResponse(BaseModel):
    model_version: str = Field(
        description="The version that made these predictions: the champion, or the previous champion while a "
        "newly promoted one warms up."
    )
    predictions: list[PredictionOut]


class ModelOut(BaseModel):
    """A registered model (``jobclass.store.registry.ModelVersion`` without its bundle path)."""

    version: str
    status: str
    metrics: dict[str, Any]
    benchmark_hash: str | None
    created_at: str
    promoted_at: str | None
    reason: str | None


class ModelsPage(BaseModel):
    models: list[ModelOut]


class RunOut(BaseModel):
    """A row of ``prediction_runs``: rows_read = rows_predicted + rows_rejected + rows_skipped."""

    run_id: str
    interval_start: str
    interval_end: str
    model_version: str
    partition_date: str
    chunks: int
    rows_read: int | None
    rows_predicted: int | None
    rows_rejected: int | None
    rows_skipped: int | None = Field(
        None, description="Postings already coded by another run of the same model version: not coded twice."
    )
    status: str
    detail: str | None
    started_at: str
    finished_at: str | None
    duration_s: float | None


class RunsPage(BaseModel):
    runs: list[RunOut]
