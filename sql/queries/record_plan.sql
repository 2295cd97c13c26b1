-- name: RecordPlan :exec
--
-- What the run planned: its scope, the database time it planned at, the
-- settle cutoff, and the plan's totals, before anything is written.
UPDATE reconciler_runs
SET scope = $2, as_of = $3, settle_cutoff = $4, refunds_planned = $5, connects_planned = $6,
    discrepancies = $7, discrepancies_by_kind = $8
WHERE id = $1
