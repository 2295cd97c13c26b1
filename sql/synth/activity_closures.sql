-- name: ActivityClosures :exec
--
-- Which of the existing open jobs close during the day, in a temporary table,
-- at a time within the day (salt 16). Jobs closed without a hire or removed
-- make most of the day's new owed refunds.
--
-- A day shaped as shares of everything: $4 percent of all jobs (so about $4
-- percent of the proposals), picked by hash (salt 14), with the closed jobs'
-- mix of reasons (salt 15): hired 47%, no_hire 21%, expired 15%, inactivity
-- 12%, removed for a ToS violation 5%.
--
-- With .OfOpen (issue 20's day, shaped as shares of the open jobs): of the
-- existing open jobs, $4 percent close without a hire, $5 percent are removed
-- for a ToS violation and $6 percent close hired, picked by one hash draw per
-- job (salt 14, as above). The open jobs were posted over the seed's 100
-- days, so the day's closures are scattered over the whole id space.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 percent; with
-- .OfOpen, $4 no_hire percent, $5 removed percent, $6 hired percent.
CREATE TEMPORARY TABLE activity_closed ON COMMIT DROP AS
SELECT c.id,
{{- if .OfOpen}}
       CASE WHEN c.draw < 10000 * ($4::float8 + $6::float8) THEN 'closed' ELSE 'removed' END AS status,
       CASE WHEN c.draw < 10000 * $4::float8 THEN 'no_hire'
            WHEN c.draw < 10000 * ($4::float8 + $6::float8) THEN 'hired'
            ELSE 'tos_violation'
       END AS close_reason,
{{- else}}
       CASE WHEN c.reason_draw < 95 THEN 'closed' ELSE 'removed' END AS status,
       CASE WHEN c.reason_draw < 47 THEN 'hired'
            WHEN c.reason_draw < 68 THEN 'no_hire'
            WHEN c.reason_draw < 83 THEN 'expired'
            WHEN c.reason_draw < 95 THEN 'inactivity'
            ELSE 'tos_violation'
       END AS close_reason,
{{- end}}
       $2::timestamptz - interval '1 second' * $3::float8
           * (0.01 + 0.98 * (hashint8extended(c.id * 64 + 16, $1) & 1073741823)::float8 / 1073741824) AS closed_at
FROM (
{{- if .OfOpen}}
    SELECT j.id, (hashint8extended(j.id * 64 + 14, $1) & 1073741823) % 1000000 AS draw
{{- else}}
    SELECT j.id, (hashint8extended(j.id * 64 + 15, $1) & 1073741823) % 100 AS reason_draw
{{- end}}
    FROM jobs j
    CROSS JOIN synth_base b
    WHERE j.status = 'open' AND j.id <= b.job0
{{- if .OfOpen}}
) c
WHERE c.draw < 10000 * ($4::float8 + $5::float8 + $6::float8)
{{- else}}
      AND (hashint8extended(j.id * 64 + 14, $1) & 1073741823) % 1000000
          < 1000000 * least(1, b.jobs * $4::float8 / 100 / greatest(b.open_jobs, 1))
) c
{{- end}}
