-- name: RunningAge :one
--
-- Asked by a run that found the lock of a shard taken, on the database's
-- clock: how long the run holding it has been going (the oldest run of the
-- shard recorded as running: a killed run's record is closed by the next run
-- that takes the lock; 0 when none is recorded running), and how long ago
-- the holder last beat its heartbeat (lock_heartbeat.sql; NULL when no
-- holder ever wrote one, e.g. a release older than the heartbeat).
SELECT COALESCE(EXTRACT(EPOCH FROM now() - (SELECT min(started_at) FROM reconciler_runs
                                          WHERE status = 'running' AND shard = $1)), 0)::float8 AS age,
       (SELECT EXTRACT(EPOCH FROM now() - beat_at) FROM reconciler_lock_heartbeats WHERE lock_key = $2)::float8 AS silent
