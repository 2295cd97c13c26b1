-- name: StartRun :exec
--
-- Records an applying run as soon as it holds the lock, before it plans, so
-- that a run failing or interrupted while planning is on record too, and so
-- that its batches can move its counters in their own transactions.
INSERT INTO reconciler_runs (id, mode, shard, status, policy)
VALUES ($1, $2, $3, 'running', $4)
