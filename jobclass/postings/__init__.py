"""Postings as they arrive, before any database: reading JSONL/CSV(.gz) files, decoding their text, a
record mapped to a ``job_postings`` row. Loading them is :mod:`jobclass.pipeline.ingest`; their SQL is
:mod:`jobclass.store.postings`."""
