-- jobclass storage schema: portable DDL for SQLite (>= 3.24) and PostgreSQL (>= 12).
--
-- Conventions:
--   * Timestamps are TEXT in one fixed ISO-8601 UTC format, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'
--     (jobclass.store.engine.format_ts): identical bytes on both databases, and lexical order = time order.
--   * Dates (partition_date) are TEXT 'YYYY-MM-DD'.
--   * JSON documents (extras, metrics) are TEXT holding JSON with sorted keys.
-- Applied by jobclass.store.schema.init_schema(); every statement is idempotent.
-- Statements are split on semicolons after '--' comments are dropped: keep both out of literals.

-- The source: postings as loaded by `jobclass db load-postings` (or by an upstream feed).
-- ingested_at is stamped per batch inside its insert transaction, under the ingest lock
-- (jobclass.store.postings): a planned interval never misses a batch that commits after planning.
CREATE TABLE IF NOT EXISTS job_postings (
    id           TEXT PRIMARY KEY,
    title        TEXT,
    body         TEXT,
    source       TEXT NOT NULL,
    posted_at    TEXT,
    ingested_at  TEXT NOT NULL,
    extras       TEXT
);

-- Incremental reads: postings whose ingested_at is in [start, end), paged by id.
CREATE INDEX IF NOT EXISTS ix_job_postings_ingested ON job_postings (ingested_at, id);

-- The registry of trained models. At most one champion (the partial unique index below).
CREATE TABLE IF NOT EXISTS model_versions (
    version         TEXT PRIMARY KEY,
    path            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('champion', 'challenger', 'retired', 'rejected')),
    metrics         TEXT NOT NULL DEFAULT '{}',
    benchmark_hash  TEXT,
    created_at      TEXT NOT NULL,
    promoted_at     TEXT,
    reason          TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS ux_model_versions_one_champion
    ON model_versions (status) WHERE status = 'champion';

-- One row per classify run: the reconciliation rows_read = rows_predicted + rows_rejected + rows_skipped.
-- run_id is deterministic: '<interval start>/<interval end>/<model version>'. A posting is coded once
-- per model version: rows_skipped counts the interval's postings that another run of the same model
-- version (a manual run whose interval overlaps this one) had already predicted or rejected.
CREATE TABLE IF NOT EXISTS prediction_runs (
    run_id          TEXT PRIMARY KEY,
    interval_start  TEXT NOT NULL,
    interval_end    TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    partition_date  TEXT NOT NULL,
    chunks          INTEGER NOT NULL DEFAULT 0,
    rows_read       INTEGER,
    rows_predicted  INTEGER,
    rows_rejected   INTEGER,
    rows_skipped    INTEGER,
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'success', 'mismatch', 'failed')),
    detail          TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    duration_s      DOUBLE PRECISION
);

CREATE INDEX IF NOT EXISTS ix_prediction_runs_interval ON prediction_runs (interval_start, interval_end);
ALTER TABLE prediction_runs ADD COLUMN rows_skipped INTEGER;

-- Top-k predictions. A re-run of an interval replaces its own rows (same key, same bytes).
CREATE TABLE IF NOT EXISTS predictions (
    posting_id         TEXT NOT NULL REFERENCES job_postings (id),
    model_version      TEXT NOT NULL,
    rank               INTEGER NOT NULL CHECK (rank >= 1),
    onet_code          TEXT NOT NULL,
    onet_title         TEXT NOT NULL,
    score              DOUBLE PRECISION NOT NULL,
    soc6_code          TEXT NOT NULL,
    soc6_score         DOUBLE PRECISION NOT NULL,
    major_group        TEXT NOT NULL,
    major_group_score  DOUBLE PRECISION NOT NULL,
    needs_review       BOOLEAN NOT NULL,
    backoff_level      TEXT NOT NULL CHECK (backoff_level IN ('detailed', 'soc6', 'major_group')),
    evidence           TEXT,
    evidence_score     DOUBLE PRECISION,
    run_id             TEXT NOT NULL,
    partition_date     TEXT NOT NULL,
    predicted_at       TEXT NOT NULL,
    truncated          BOOLEAN NOT NULL DEFAULT FALSE,
    source             TEXT NOT NULL DEFAULT 'model',
    model_rank         INTEGER,
    memory_key         TEXT,
    PRIMARY KEY (posting_id, model_version, rank)
);

-- Columns added after a table's first release (last in their CREATE TABLE too, so the column
-- order is the same either way): init_schema runs an ADD COLUMN only when the column is missing,
-- so databases created before it are upgraded in place.
-- truncated: the title or body was cut at the length limit (jobclass.pipeline.validation) before predicting.
ALTER TABLE predictions ADD COLUMN truncated BOOLEAN NOT NULL DEFAULT FALSE;

-- The coded-title memory (jobclass.memory): source says where the row's code came from ('model', or
-- 'memory': what reviewers decided for postings with the same memory_key); model_rank is the rank the
-- model itself gave the code (NULL: not in the model's top k); memory_key is the posting's key.
ALTER TABLE predictions ADD COLUMN source TEXT NOT NULL DEFAULT 'model';
ALTER TABLE predictions ADD COLUMN model_rank INTEGER;
ALTER TABLE predictions ADD COLUMN memory_key TEXT;

-- Replacing a run's rows, and run-level reconciliation.
CREATE INDEX IF NOT EXISTS ix_predictions_run ON predictions (run_id, rank);
-- Predictions per occupation per day.
CREATE INDEX IF NOT EXISTS ix_predictions_day_code ON predictions (partition_date, rank, onet_code);
-- Latest top-1 per posting, counts by major group, low-confidence review.
CREATE INDEX IF NOT EXISTS ix_predictions_top1 ON predictions (rank, posting_id, predicted_at);
CREATE INDEX IF NOT EXISTS ix_predictions_review ON predictions (rank, needs_review, score);
-- The review queue's order: how many pending postings share a posting's memory key.
CREATE INDEX IF NOT EXISTS ix_predictions_memory_key ON predictions (memory_key, rank);
-- The review pages (jobclass.store.labels, paged by keyset): the queue's rows and what one decision
-- settles per memory key, read from the index alone; the "newest" order walks the runs newest first
-- and each run's rows in order, so that a page reads about its own rows.
CREATE INDEX IF NOT EXISTS ix_predictions_queue
    ON predictions (rank, needs_review, memory_key, score, posting_id, model_version, predicted_at);
CREATE INDEX IF NOT EXISTS ix_predictions_run_order
    ON predictions (run_id, rank, score, posting_id, model_version, predicted_at);
CREATE INDEX IF NOT EXISTS ix_prediction_runs_started ON prediction_runs (started_at DESC, run_id);

-- Postings a run could not predict, with a reason code (see jobclass.pipeline.validation).
CREATE TABLE IF NOT EXISTS rejected_postings (
    posting_id   TEXT NOT NULL REFERENCES job_postings (id),
    run_id       TEXT NOT NULL,
    reason_code  TEXT NOT NULL,
    detail       TEXT,
    PRIMARY KEY (run_id, posting_id)
);

CREATE INDEX IF NOT EXISTS ix_rejected_postings_posting ON rejected_postings (posting_id);
CREATE INDEX IF NOT EXISTS ix_rejected_postings_reason ON rejected_postings (reason_code);

-- Lines of a postings file that could not be loaded, with the reason (kept per load: a reload
-- adds its own rows). line is the file's line number (a CSV row: the line it starts on).
CREATE TABLE IF NOT EXISTS load_rejects (
    loaded_at    TEXT NOT NULL,
    file         TEXT NOT NULL,
    line         INTEGER NOT NULL,
    reason_code  TEXT NOT NULL,
    detail       TEXT,
    raw          TEXT,
    PRIMARY KEY (loaded_at, file, line)
);

CREATE INDEX IF NOT EXISTS ix_load_rejects_file ON load_rejects (file, line);

-- Human-reviewed codes: what the retrain learns from. One current decision per posting (the review
-- page and `jobclass labels import` replace a posting's rows; older rows moved to posting_label_history).
-- decision: 'coded' (onet_code is the code) or 'not_codable' (onet_code is ''; never trained on).
-- reviewer: who decided (the Airflow user on the review page); created_at: when.
-- model_version, suggested_rank: the model whose suggestions were shown, and the rank of the chosen
-- code among them (NULL when the code was searched for, or not codable).
CREATE TABLE IF NOT EXISTS posting_labels (
    posting_id      TEXT NOT NULL REFERENCES job_postings (id),
    onet_code       TEXT NOT NULL,
    reviewer        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    note            TEXT,
    decision        TEXT NOT NULL DEFAULT 'coded',
    model_version   TEXT,
    suggested_rank  INTEGER,
    bulk_id         TEXT,
    PRIMARY KEY (posting_id, onet_code, reviewer)
);

CREATE INDEX IF NOT EXISTS ix_posting_labels_created ON posting_labels (created_at);

-- Added to posting_labels with the review page (see the note on ADD COLUMN above).
ALTER TABLE posting_labels ADD COLUMN decision TEXT NOT NULL DEFAULT 'coded';
ALTER TABLE posting_labels ADD COLUMN model_version TEXT;
ALTER TABLE posting_labels ADD COLUMN suggested_rank INTEGER;
-- bulk_id: set on each of the N labels one "apply to all N pending postings with this title" wrote
-- (the same id on all N); NULL for a decision on one posting.
ALTER TABLE posting_labels ADD COLUMN bulk_id TEXT;

-- Superseded decisions: a posting_labels row moved here when a later decision replaced it,
-- with when and by whom it was replaced. Never read by the retrain.
CREATE TABLE IF NOT EXISTS posting_label_history (
    posting_id      TEXT NOT NULL REFERENCES job_postings (id),
    onet_code       TEXT NOT NULL,
    reviewer        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    note            TEXT,
    decision        TEXT NOT NULL,
    model_version   TEXT,
    suggested_rank  INTEGER,
    superseded_at   TEXT NOT NULL,
    superseded_by   TEXT NOT NULL,
    bulk_id         TEXT,
    PRIMARY KEY (posting_id, onet_code, reviewer, created_at)
);

ALTER TABLE posting_label_history ADD COLUMN bulk_id TEXT;

CREATE INDEX IF NOT EXISTS ix_posting_label_history_posting ON posting_label_history (posting_id, superseded_at);


-- Retired memory entries: the decisions on a key made up to retired_at no longer count in the memory
-- (jobclass memory retire, the review page). The labels stay, and the retrain still trains on them.
CREATE TABLE IF NOT EXISTS memory_retirements (
    memory_key  TEXT NOT NULL,
    retired_at  TEXT NOT NULL,
    retired_by  TEXT NOT NULL,
    note        TEXT,
    PRIMARY KEY (memory_key, retired_at)
);
