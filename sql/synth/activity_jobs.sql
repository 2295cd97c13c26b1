-- name: ActivityJobs :exec
--
-- The day's new jobs, planned in the temporary table synth_jobs with the
-- columns of seed_jobs.sql, so the shared statements write their rows: enough
-- of them for $4 percent of the existing proposals, each 1 + two 0..14 draws
-- proposals (ids consecutive after the highest proposal id), posted over the
-- day (the $3 seconds before the anchor $2) in id order. A day after posting
-- most are still open: 70% open, 13% closed hired, 13% closed no_hire, 4%
-- removed for a ToS violation, closed between posting and the anchor. A
-- quarter are boosted (a hired job's auction ended at the hire, the others
-- run: seven days have not passed); the Connects requirement is 2..16 and did
-- not change; no placebo auctions.
--
-- Every draw is hashint8extended(id * 64 + salt, $1) of the row's own id, so
-- the day is the same for the same state, seed and anchor. Salts: jobs 1-13,
-- closures 14-16, auction ends 17-19, proposals 20-25, bids 30-32, fees 33-39,
-- interactions 40-50, online refunds 51-56, late interactions 63-65.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 percent.
CREATE TEMPORARY TABLE synth_jobs ON COMMIT DROP AS
WITH target AS (
    SELECT job0, proposal0, greatest(ceil(proposals * $4::float8 / 100), 1)::bigint AS n_new
    FROM synth_base
),
candidates AS (
    SELECT t.job0 + g AS id, g,
           1 + (hashint8extended((t.job0 + g) * 64 + 1, $1) & 1073741823) % 15
             + (hashint8extended((t.job0 + g) * 64 + 2, $1) & 1073741823) % 15 AS n
    FROM target t
    CROSS JOIN generate_series(1::bigint, (SELECT n_new / 12 + 10 FROM target)) AS g
),
placed AS (
    SELECT id, g, n, (sum(n) OVER (ORDER BY g ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))::bigint - n + 1 AS first
    FROM candidates
),
kept AS (
    SELECT p.id, p.g, t.proposal0 + p.first AS first, least(p.n, t.n_new - p.first + 1) AS n,
           count(*) OVER () AS total, t.job0
    FROM placed p
    CROSS JOIN target t
    WHERE p.first <= t.n_new
),
drawn AS (
    SELECT k.*,
           $2::timestamptz - interval '1 second' * $3::float8
               * (1 - (k.g - 1 + 0.9 * (hashint8extended(k.id * 64 + 3, $1) & 1073741823)::float8 / 1073741824) / k.total) AS posted_at,
           (hashint8extended(k.id * 64 + 4, $1) & 1073741823) % 100 AS status_draw,
           (hashint8extended(k.id * 64 + 5, $1) & 1073741823)::float8 / 1073741824 AS close_u
    FROM kept k
)
SELECT c.*,
       CASE WHEN c.boosted AND c.close_reason = 'hired' THEN c.closed_at END AS auction_ended_at,
       false AS placebo, false AS fee_changed, c.fee AS new_fee, NULL::timestamptz AS change_at
FROM (
SELECT d.id, d.first, d.n, d.posted_at,
       CASE WHEN d.status_draw < 70 THEN 'open' WHEN d.status_draw < 96 THEN 'closed' ELSE 'removed' END AS status,
       CASE WHEN d.status_draw < 70 THEN NULL
            WHEN d.status_draw < 83 THEN 'hired'
            WHEN d.status_draw < 96 THEN 'no_hire'
            ELSE 'tos_violation'
       END AS close_reason,
       CASE WHEN d.status_draw >= 70 THEN d.posted_at + ($2::timestamptz - d.posted_at) * (0.3 + 0.69 * d.close_u) END AS closed_at,
       1 + (hashint8extended(d.id * 64 + 12, $1) & 1073741823) % greatest(d.job0 / 3, 1) AS client_id,
       (hashint8extended(d.id * 64 + 6, $1) & 1073741823) % 100 < 25 AS boosted,
       2 + (hashint8extended(d.id * 64 + 8, $1) & 1073741823) % 15 AS fee,
       (hashint8extended(d.id * 64 + 13, $1) & 1073741823) % d.n AS offer_index
FROM drawn d
) c
ORDER BY c.id
