-- name: RunningAge :one
--
-- How long, on the database's clock, the oldest run of a shard recorded as
-- running has been going: asked by a run that found the lock taken, so it is
-- the age of the run holding the lock (a killed run's record is closed by the
-- next run that takes the lock). 0 when none is recorded running.
SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(started_at)), 0)::float8
FROM reconciler_runs
WHERE status = 'running' AND shard = $1
