-- The latest top-1 prediction of every posting: newest run first, the champion's on a tie.
SELECT posting_id, title, model_version, onet_code, onet_title, score, needs_review, predicted_at
FROM (
    SELECT
        p.posting_id,
        j.title,
        p.model_version,
        p.onet_code,
        p.onet_title,
        p.score,
        p.needs_review,
        p.predicted_at,
        ROW_NUMBER() OVER (
            PARTITION BY p.posting_id
            ORDER BY p.predicted_at DESC,
                     CASE WHEN m.status = 'champion' THEN 0 ELSE 1 END,
                     p.model_version DESC
        ) AS recency
    FROM predictions p
    JOIN job_postings j ON j.id = p.posting_id
    LEFT JOIN model_versions m ON m.version = p.model_version
    WHERE p.rank = 1
) ranked
WHERE recency = 1
ORDER BY posting_id;
