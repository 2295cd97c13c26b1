-- name: SynthProposals :execrows
--
-- Each planned job's proposals, ids first .. first + n - 1, submitted between
-- the posting and the close (or the anchor), most of them early: proposal k of
-- n arrives after ((k + jitter) / n)^2 of that span, so ids increase with time
-- within a job. Freelancers are 1..F (synth_base), drawn as floor(F * u^1.25):
-- a mild skew towards low ids gives some heavy users without making anyone
-- implausible.
--
-- 5% are withdrawn: on closed jobs half of those before the close, a tenth
-- exactly at it (which counts as not withdrawn before it), the rest after;
-- on open jobs at any time after submission; never after the anchor.
--
-- Shared by the seed and a day of activity: the draws are hashes of the
-- proposal id (salts 21-25, registry in synth/seed.go), so both are
-- deterministic whatever plan the server picks.
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO proposals (id, job_id, freelancer_id, submitted_at, withdrawn_at)
SELECT s.id, s.job_id,
       1 + floor(s.freelancers * power((hashint8extended(s.id * 64 + 21, $1) & 1073741823)::float8 / 1073741824, 1.25))::bigint,
       s.submitted_at,
       CASE WHEN s.w_draw >= 50 THEN NULL
            WHEN s.closed_at IS NULL THEN s.submitted_at + ($2::timestamptz - s.submitted_at) * (0.02 + 0.96 * s.w_u)
            WHEN s.w_kind < 50 THEN s.submitted_at + (s.closed_at - s.submitted_at) * (0.02 + 0.96 * s.w_u)
            WHEN s.w_kind < 60 THEN s.closed_at
            ELSE s.closed_at + ($2::timestamptz - s.closed_at) * (0.02 + 0.96 * s.w_u)
       END
FROM (
    SELECT g.id, j.id AS job_id, j.closed_at, b.freelancers,
           j.posted_at + (coalesce(j.closed_at, $2::timestamptz) - j.posted_at) * 0.97
               * power((g.id - j.first + (hashint8extended(g.id * 64 + 22, $1) & 1073741823)::float8 / 1073741824) / j.n, 2) AS submitted_at,
           (hashint8extended(g.id * 64 + 23, $1) & 1073741823) % 1000 AS w_draw,
           (hashint8extended(g.id * 64 + 24, $1) & 1073741823) % 100 AS w_kind,
           (hashint8extended(g.id * 64 + 25, $1) & 1073741823)::float8 / 1073741824 AS w_u
    FROM synth_jobs j
    CROSS JOIN synth_base b
    CROSS JOIN LATERAL generate_series(j.first, j.first + j.n - 1) AS g (id)
) s
ORDER BY s.id
