-- name: RecordPlan :exec
--
-- What the run planned: its scope, the database time it planned at, the
-- settle cutoff, and the plan's totals, before anything is written; where it
-- planned (primary or replica) and the replica's lag in seconds.
UPDATE reconciler_runs
SET scope = $2, as_of = $3, settle_cutoff = $4, refunds_planned = $5, connects_planned = $6,
    discrepancies = $7, discrepancies_by_kind = $8,
    planned_on = $9, replica_lag = make_interval(secs => $10)
WHERE id = $1
