"""The endpoints. They read the database only through ``jobclass.store`` and ``jobclass.pipeline``."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from jobclass.airflow.api.champion import read_champion
from jobclass.airflow.api.errors import scrubbed, text_scrubber, unavailable
from jobclass.airflow.api.schemas import (
    DEFAULT_PAGE,
    MAX_OFFSET,
    MAX_PAGE,
    ModelOut,
    ModelsPage,
    PredictionOut,
    PredictRequest,
    PredictResponse,
    RunOut,
    RunsPage,
)
from jobclass.airflow.api.state import ApiState, api_state

router = APIRouter()

Limit = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Rows to return (1..200).")
Offset = Query(0, ge=0, le=MAX_OFFSET, description="Newest rows to skip.")


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/predict", response_model=PredictResponse)
async def predict(request: PredictRequest, state: ApiState = Depends(api_state)) -> PredictResponse:
    champion = await run_in_threadpool(lambda: read_champion(state.engine()))
    # The champion's classifier, or (while a newly promoted one warms) the previous champion's; 503
    # "model warming" only when none is loaded yet. The answer names the version that made it.
    version, classifier = state.warmer.get(champion.version, champion.path)
    ranked = await state.slots.run(lambda: classifier.predict(request.title, request.body, top_k=request.top_k))
    return PredictResponse(model_version=version, predictions=[PredictionOut.model_validate(p.as_dict()) for p in ranked])


@router.get("/models", response_model=ModelsPage)
def models(limit: int = Limit, offset: int = Offset, state: ApiState = Depends(api_state)) -> ModelsPage:
    from jobclass.store.registry import list_models

    engine = state.engine()
    try:
        rows = list_models(engine)  # oldest first; the registry is small: one row per trained model
    except Exception as exc:
        raise unavailable("model registry unavailable", "could not list models") from exc
    scrub = text_scrubber(engine)
    page = rows[::-1][offset : offset + limit]
    return ModelsPage(models=[ModelOut.model_validate(scrubbed(dataclasses.asdict(m), scrub)) for m in page])


@router.get("/runs", response_model=RunsPage)
def runs(limit: int = Limit, offset: int = Offset, state: ApiState = Depends(api_state)) -> RunsPage:
    from jobclass.store.runs import list_runs

    engine = state.engine()
    try:
        rows = list_runs(engine, limit=limit, offset=offset)
    except Exception as exc:
        raise unavailable("prediction runs unavailable", "could not list prediction runs") from exc
    scrub = text_scrubber(engine)
    return RunsPage(runs=[RunOut.model_validate(scrubbed(row, scrub)) for row in rows])
