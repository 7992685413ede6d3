"""The SQL of ``posting_labels``: the human-reviewed labels the weekly retrain learns from."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

LABEL_COLUMNS = ["posting_id", "title", "body", "onet_code"]

_REVIEWED = sa.text(
    "SELECT l.posting_id, p.title, p.body, l.onet_code, l.created_at FROM posting_labels l "
    "JOIN job_postings p ON p.id = l.posting_id ORDER BY l.posting_id, l.created_at DESC, l.onet_code"
)


def read_reviewed_labels(engine: Engine) -> pd.DataFrame:
    """Reviewed labels with their posting text, one per posting (its latest review):
    ``posting_id``, ``title``, ``body``, ``onet_code``, as text (missing text is empty)."""
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(_REVIEWED).fetchall(), columns=[*LABEL_COLUMNS, "created_at"])
    frame = frame.drop_duplicates("posting_id", keep="first").drop(columns="created_at")
    return frame.fillna("").astype(str).reset_index(drop=True)
