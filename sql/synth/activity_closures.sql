-- name: ActivityClosures :exec
--
-- Which of the existing open jobs close during the day, in a temporary table:
-- $4 percent of all jobs (so about $4 percent of the proposals), picked by
-- hash (salt 14), with the closed jobs' mix of reasons (salt 15): hired 47%,
-- no_hire 21%, expired 15%, inactivity 12%, removed for a ToS violation 5%;
-- at a time within the day (salt 16). Jobs closed without a hire or removed
-- make most of the day's new owed refunds.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 percent.
CREATE TEMPORARY TABLE activity_closed ON COMMIT DROP AS
SELECT c.id,
       CASE WHEN c.reason_draw < 95 THEN 'closed' ELSE 'removed' END AS status,
       CASE WHEN c.reason_draw < 47 THEN 'hired'
            WHEN c.reason_draw < 68 THEN 'no_hire'
            WHEN c.reason_draw < 83 THEN 'expired'
            WHEN c.reason_draw < 95 THEN 'inactivity'
            ELSE 'tos_violation'
       END AS close_reason,
       $2::timestamptz - interval '1 second' * $3::float8
           * (0.01 + 0.98 * (hashint8extended(c.id * 64 + 16, $1) & 1073741823)::float8 / 1073741824) AS closed_at
FROM (
    SELECT j.id, (hashint8extended(j.id * 64 + 15, $1) & 1073741823) % 100 AS reason_draw
    FROM jobs j
    CROSS JOIN synth_base b
    WHERE j.status = 'open' AND j.id <= b.job0
      AND (hashint8extended(j.id * 64 + 14, $1) & 1073741823) % 1000000
          < 1000000 * least(1, b.jobs * $4::float8 / 100 / greatest(b.open_jobs, 1))
) c
