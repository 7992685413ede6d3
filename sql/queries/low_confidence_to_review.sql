-- Champion top-1 predictions flagged for review (needs_review or score < 0.5) with no human label yet, least confident first.
SELECT
    p.posting_id,
    j.title,
    p.onet_code,
    p.onet_title,
    p.score,
    p.backoff_level,
    p.soc6_code,
    p.soc6_score,
    p.major_group,
    p.evidence,
    p.partition_date
FROM predictions p
JOIN model_versions m ON m.version = p.model_version AND m.status = 'champion'
JOIN job_postings j ON j.id = p.posting_id
WHERE p.rank = 1
  AND (p.needs_review = TRUE OR p.score < 0.5)
  AND NOT EXISTS (SELECT 1 FROM posting_labels l WHERE l.posting_id = p.posting_id)
ORDER BY p.score, p.posting_id
LIMIT 200;
