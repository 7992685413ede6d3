"""The column lists of a prediction frame, shared by the model that makes it, the memory that overrides
it and the store that writes it (so the store needs neither the ML stack nor the memory to know them)."""

from __future__ import annotations

#: One row per (posting, rank), as :meth:`jobclass.model.classifier.JobClassifier.predict_frame` returns them.
PREDICTION_COLUMNS = [
    "posting_id",
    "rank",
    "onet_code",
    "onet_title",
    "score",
    "soc6_code",
    "soc6_score",
    "major_group",
    "major_group_score",
    "needs_review",
    "backoff_level",
    "evidence",
    "evidence_score",
]
#: Set by the memory (:mod:`jobclass.memory.apply`): where the code came from, the model's own rank, the key.
MEMORY_COLUMNS = ["source", "model_rank", "memory_key"]
