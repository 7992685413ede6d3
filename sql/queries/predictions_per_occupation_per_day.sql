-- Top-1 predictions per occupation per day (partition date) and model version, busiest first.
SELECT
    p.partition_date,
    p.model_version,
    p.onet_code,
    p.onet_title,
    COUNT(*) AS postings,
    AVG(p.score) AS mean_score
FROM predictions p
WHERE p.rank = 1
GROUP BY p.partition_date, p.model_version, p.onet_code, p.onet_title
ORDER BY p.partition_date, p.model_version, postings DESC, p.onet_code;
