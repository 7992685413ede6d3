-- Postings where two model versions disagree on the top-1 occupation, side by side.
SELECT
    a.posting_id,
    j.title,
    a.model_version AS model_a,
    a.onet_code AS code_a,
    a.score AS score_a,
    b.model_version AS model_b,
    b.onet_code AS code_b,
    b.score AS score_b,
    CASE WHEN a.major_group = b.major_group THEN 'same major group' ELSE 'different major group' END AS severity
FROM predictions a
JOIN predictions b
  ON b.posting_id = a.posting_id AND b.rank = 1 AND b.model_version > a.model_version
JOIN job_postings j ON j.id = a.posting_id
WHERE a.rank = 1
  AND a.onet_code <> b.onet_code
ORDER BY a.posting_id, a.model_version, b.model_version;
