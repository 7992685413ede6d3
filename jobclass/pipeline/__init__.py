"""The pipelines: validation, the nightly interval run, the Parquet sink, the retrain steps and the gate."""
