-- name: SeedProposals :exec
--
-- Each job's proposals, ids first .. first + n - 1, submitted between the
-- posting and the close (or the anchor), most of them early: proposal k of n
-- arrives after ((k + jitter) / n)^2 of that span, so ids increase with time
-- within a job. Freelancers are 1..$3, drawn as floor($3 * u^1.25): a mild
-- skew towards low ids gives some heavy users (a few dozen times the mean at
-- 5M proposals) without making anyone implausible.
--
-- 5% are withdrawn: half of those before the close, a tenth exactly at the
-- close (which counts as not withdrawn before it), the rest after the close;
-- on open jobs at any time after submission.
--
-- Proposal salts are 20-58 (see seed.go).
--
-- Parameters: $1 seed, $2 anchor, $3 freelancers.
INSERT INTO proposals (id, job_id, freelancer_id, submitted_at, withdrawn_at)
SELECT s.id, s.job_id,
       1 + floor($3::bigint * power((hashint8extended(s.id * 64 + 21, $1) & 1073741823)::float8 / 1073741824, 1.25))::bigint,
       $2::timestamptz - interval '1 second' * s.sub_off,
       $2::timestamptz - interval '1 second' * CASE
           WHEN s.w_draw >= 50 THEN NULL
           WHEN s.close_off IS NULL THEN s.sub_off * (0.02 + 0.96 * s.w_u)
           WHEN s.w_kind < 50 THEN s.sub_off - (s.sub_off - s.close_off) * (0.02 + 0.96 * s.w_u)
           WHEN s.w_kind < 60 THEN s.close_off
           ELSE s.close_off * (0.02 + 0.96 * s.w_u)
       END
FROM (
    SELECT g.id, j.id AS job_id, j.close_off,
           j.posted_off - (j.posted_off - j.end_off) * 0.97
               * power((g.id - j.first + (hashint8extended(g.id * 64 + 22, $1) & 1073741823)::float8 / 1073741824) / j.n, 2) AS sub_off,
           (hashint8extended(g.id * 64 + 23, $1) & 1073741823) % 1000 AS w_draw,
           (hashint8extended(g.id * 64 + 24, $1) & 1073741823) % 100 AS w_kind,
           (hashint8extended(g.id * 64 + 25, $1) & 1073741823)::float8 / 1073741824 AS w_u
    FROM seed_jobs j
    CROSS JOIN LATERAL generate_series(j.first, j.first + j.n - 1) AS g (id)
) s
