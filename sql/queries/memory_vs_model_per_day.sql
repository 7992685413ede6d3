-- Per day and model version: postings coded, how many from the reviewers' memory, and how many of each were accepted without review.
SELECT
    p.partition_date,
    p.model_version,
    COUNT(*) AS postings,
    SUM(CASE WHEN p.source = 'memory' THEN 1 ELSE 0 END) AS from_memory,
    SUM(CASE WHEN p.source = 'model' THEN 1 ELSE 0 END) AS from_model,
    SUM(CASE WHEN p.source = 'memory' AND NOT p.needs_review THEN 1 ELSE 0 END) AS memory_auto_accepted,
    SUM(CASE WHEN p.source = 'model' AND NOT p.needs_review THEN 1 ELSE 0 END) AS model_auto_accepted,
    ROUND(CAST(AVG(CASE WHEN p.needs_review THEN 0.0 ELSE 1.0 END) AS NUMERIC), 4) AS auto_accepted_share
FROM predictions p
WHERE p.rank = 1
GROUP BY p.partition_date, p.model_version
ORDER BY p.partition_date, p.model_version;
