-- name: SeedJobs :exec
--
-- The seed's plan of the marketplace, one row per job, in the temporary table
-- synth_jobs that the statements shared with a day of activity join
-- (insert_jobs.sql, proposals.sql, fees.sql, ...): how many proposals the job gets and
-- the first one's id, when it was posted, how and when it was closed, its
-- Connects requirement (and whether it changed while the job was live), and
-- its boost auction. Times are computed as offsets in seconds before the
-- anchor (no calendar arithmetic), then stored as times.
--
-- Every pseudo-random choice is hashint8extended(id * 64 + salt, seed): a pure
-- function of the row's id, never of row order, so the result is the same
-- whatever plan (or parallel plan) the server picks. Job salts are 1-13 (see
-- synth/seed.go for the registry).
--
-- Job sizes are 1 + two 0..14 draws (a triangle around 15). Their running
-- sum places each job's proposal ids, and the candidate list ($3 jobs, enough
-- to reach $2 proposals) is cut at the job holding proposal $2.
--
-- Jobs are posted over the 100 days before the anchor, so that a day of
-- activity closes jobs posted across the last 90 days and more.
--
-- Parameters: $1 seed, $2 proposals, $3 candidate jobs, $4 anchor.
CREATE TEMPORARY TABLE synth_jobs ON COMMIT DROP AS
WITH candidates AS (
    SELECT j,
           1 + (hashint8extended(j * 64 + 1, $1) & 1073741823) % 15
             + (hashint8extended(j * 64 + 2, $1) & 1073741823) % 15 AS n
    FROM generate_series(1::bigint, $3::bigint) AS j
),
placed AS (
    SELECT j, n, (sum(n) OVER (ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))::bigint - n + 1 AS first
    FROM candidates
),
kept AS (
    SELECT j AS id, first, least(n, $2::bigint - first + 1) AS n, count(*) OVER () AS total
    FROM placed
    WHERE first <= $2::bigint
),
drawn AS (
    SELECT k.*,
           -- posted over the 100 days (8,640,000 s) before the anchor, in id order
           8640000.0 * (1 - (k.id - 1 + 0.9 * (hashint8extended(k.id * 64 + 3, $1) & 1073741823)::float8 / 1073741824) / k.total) AS posted_off,
           (hashint8extended(k.id * 64 + 4, $1) & 1073741823) % 1000 AS status_draw,
           (hashint8extended(k.id * 64 + 5, $1) & 1073741823)::float8 / 1073741824 AS close_u,
           -- a few dozen jobs, evenly spread, are closed in the last 10 minutes
           CASE WHEN k.total >= 20 THEN k.id % (k.total / least(60, k.total / 20)) = 0 ELSE false END AS recent
    FROM kept k
),
closed AS (
    SELECT d.*,
           CASE WHEN d.status_draw < 330 THEN 'open'
                WHEN d.status_draw < 640 THEN 'closed'    -- hired
                WHEN d.status_draw < 780 THEN 'closed'    -- no_hire
                WHEN d.status_draw < 880 THEN 'closed'    -- expired
                WHEN d.status_draw < 960 THEN 'closed'    -- inactivity
                WHEN d.status_draw < 990 THEN 'removed'   -- tos_violation
                ELSE 'open'                               -- closed no_hire, then reopened
           END AS status,
           CASE WHEN d.status_draw < 330 THEN NULL
                WHEN d.status_draw < 640 THEN 'hired'
                WHEN d.status_draw < 780 THEN 'no_hire'
                WHEN d.status_draw < 880 THEN 'expired'
                WHEN d.status_draw < 960 THEN 'inactivity'
                WHEN d.status_draw < 990 THEN 'tos_violation'
           END AS close_reason,
           CASE WHEN d.status_draw < 330 OR d.status_draw >= 990 THEN NULL
                WHEN d.recent THEN least(1 + 598 * d.close_u, d.posted_off / 2)
                ELSE d.posted_off * (0.95 - 0.93 * d.close_u)
           END AS close_off
    FROM drawn d
),
planned AS (
SELECT c.id, c.first, c.n, c.posted_off, c.status, c.close_reason, c.close_off,
       1 + (hashint8extended(c.id * 64 + 12, $1) & 1073741823) % greatest(c.total / 3, 1) AS client_id,
       -- boost auctions: a quarter of the jobs; 3% of those are placebo auctions (no fee)
       (hashint8extended(c.id * 64 + 6, $1) & 1073741823) % 100 < 25 AS boosted,
       (hashint8extended(c.id * 64 + 7, $1) & 1073741823) % 100 < 3 AS placebo,
       -- the auction ends 7 days (604,800 s) after posting or at the hire; <= 0: still running
       greatest(c.posted_off - 604800, CASE WHEN c.close_reason = 'hired' THEN c.close_off END) AS auction_off,
       -- the Connects requirement, 2..16; 3% of jobs changed it while live
       2 + (hashint8extended(c.id * 64 + 8, $1) & 1073741823) % 15 AS fee,
       (hashint8extended(c.id * 64 + 9, $1) & 1073741823) % 100 < 3 AS fee_changed,
       2 + ((hashint8extended(c.id * 64 + 8, $1) & 1073741823) % 15
            + 1 + (hashint8extended(c.id * 64 + 10, $1) & 1073741823) % 14) % 15 AS new_fee,
       c.posted_off - (c.posted_off - coalesce(c.close_off, 0))
           * (0.2 + 0.6 * (hashint8extended(c.id * 64 + 11, $1) & 1073741823)::float8 / 1073741824) AS change_off,
       -- on hired jobs, the proposal that received the offer
       (hashint8extended(c.id * 64 + 13, $1) & 1073741823) % c.n AS offer_index
FROM closed c
)
SELECT id, first, n, status, close_reason, client_id, boosted, placebo, fee, fee_changed, new_fee, offer_index,
       $4::timestamptz - interval '1 second' * posted_off AS posted_at,
       $4::timestamptz - interval '1 second' * close_off AS closed_at,
       $4::timestamptz - interval '1 second' * change_off AS change_at,
       CASE WHEN auction_off > 0 THEN $4::timestamptz - interval '1 second' * auction_off END AS auction_ended_at
FROM planned
ORDER BY id
