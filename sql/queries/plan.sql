-- name: Plan :many
--
-- Everything a run must act on or report for one slice of proposals: the
-- refunds to write, the ones still inside the settle delay, and the
-- discrepancies. Rows with nothing to say are filtered here, in the database,
-- so only the few interesting rows cross the wire.
WITH {{template "policy.sql" .}}
SELECT proposal_id, job_id, freelancer_id, component, coalesce(rule, '') AS rule,
       charged, coalesce(refunded, 0) AS refunded, coalesce(refunded_to, 0) AS refunded_to, event_at, class
FROM decisions
WHERE class IS NOT NULL
ORDER BY proposal_id, component
