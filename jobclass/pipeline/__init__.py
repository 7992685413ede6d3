"""The pipelines' logic (their SQL is :mod:`jobclass.store`): ingest, validation, the interval run and its
Parquet sink, the nightly steps, the retrain steps, the gate and retention."""
