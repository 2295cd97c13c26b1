-- name: ActivityClosuresOpen :exec
--
-- activity_closures.sql for a day shaped as shares of the open jobs (issue
-- 20's day): of the existing open jobs, $4 percent close without a hire, $5
-- percent are removed for a ToS violation and $6 percent close hired, picked
-- by one hash draw per job (salt 14, the same as activity_closures.sql), at a
-- time within the day (salt 16). The open jobs were posted over the seed's
-- 100 days, so the day's closures are scattered over the whole id space.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 no_hire percent,
-- $5 removed percent, $6 hired percent.
CREATE TEMPORARY TABLE activity_closed ON COMMIT DROP AS
SELECT c.id,
       CASE WHEN c.draw < 10000 * ($4::float8 + $6::float8) THEN 'closed' ELSE 'removed' END AS status,
       CASE WHEN c.draw < 10000 * $4::float8 THEN 'no_hire'
            WHEN c.draw < 10000 * ($4::float8 + $6::float8) THEN 'hired'
            ELSE 'tos_violation'
       END AS close_reason,
       $2::timestamptz - interval '1 second' * $3::float8
           * (0.01 + 0.98 * (hashint8extended(c.id * 64 + 16, $1) & 1073741823)::float8 / 1073741824) AS closed_at
FROM (
    SELECT j.id, (hashint8extended(j.id * 64 + 14, $1) & 1073741823) % 1000000 AS draw
    FROM jobs j
    CROSS JOIN synth_base b
    WHERE j.status = 'open' AND j.id <= b.job0
) c
WHERE c.draw < 10000 * ($4::float8 + $5::float8 + $6::float8)
