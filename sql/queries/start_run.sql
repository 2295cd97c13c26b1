-- name: StartRun :exec
--
-- Records an applying run before it writes anything, so that its batches can
-- move its counters in their own transactions.
INSERT INTO reconciler_runs (id, mode, scope, shard, status, as_of, settle_cutoff, policy,
                             refunds_planned, connects_planned, discrepancies, discrepancies_by_kind)
VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10, $11)
