-- name: ActivityProposals :execrows
--
-- The new jobs' proposals, ids first .. first + n - 1, submitted between the
-- posting and the close (or the anchor), most early, as in seed_proposals.sql;
-- by existing freelancers, drawn with the seed's mild skew to low ids (salt
-- 21); 5% withdrawn between the submission and the close or the anchor
-- (salts 23, 25).
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO proposals (id, job_id, freelancer_id, submitted_at, withdrawn_at)
SELECT s.id, s.job_id,
       1 + floor(s.freelancers * power((hashint8extended(s.id * 64 + 21, $1) & 1073741823)::float8 / 1073741824, 1.25))::bigint,
       s.submitted_at,
       CASE WHEN (hashint8extended(s.id * 64 + 23, $1) & 1073741823) % 1000 < 50 THEN
           s.submitted_at + (s.end_at - s.submitted_at)
               * (0.02 + 0.96 * (hashint8extended(s.id * 64 + 25, $1) & 1073741823)::float8 / 1073741824)
       END
FROM (
    SELECT g.id, j.id AS job_id, b.freelancers, coalesce(j.closed_at, $2::timestamptz) AS end_at,
           j.posted_at + (coalesce(j.closed_at, $2::timestamptz) - j.posted_at) * 0.97
               * power((g.id - j.first + (hashint8extended(g.id * 64 + 22, $1) & 1073741823)::float8 / 1073741824) / j.n, 2) AS submitted_at
    FROM activity_jobs j
    CROSS JOIN activity_base b
    CROSS JOIN LATERAL generate_series(j.first, j.first + j.n - 1) AS g (id)
) s
ORDER BY s.id
