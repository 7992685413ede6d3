-- The latest classification runs and their reconciliation: rows read = predicted + rejected.
SELECT
    r.interval_start,
    r.interval_end,
    r.model_version,
    r.status,
    r.rows_read,
    r.rows_predicted,
    r.rows_rejected,
    r.duration_s
FROM prediction_runs r
ORDER BY r.started_at DESC, r.run_id
LIMIT 20;
