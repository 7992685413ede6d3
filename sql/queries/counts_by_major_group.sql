-- Champion top-1 predictions per SOC major group: postings, share of all, mean score, share needing review.
SELECT
    p.major_group,
    COUNT(*) AS postings,
    ROUND(CAST(100.0 * COUNT(*) / SUM(COUNT(*)) OVER () AS NUMERIC), 2) AS percent_of_postings,
    AVG(p.score) AS mean_score,
    AVG(CASE WHEN p.needs_review THEN 1.0 ELSE 0.0 END) AS review_rate
FROM predictions p
JOIN model_versions m ON m.version = p.model_version AND m.status = 'champion'
WHERE p.rank = 1
GROUP BY p.major_group
ORDER BY postings DESC, p.major_group;
