-- name: LockHeartbeat :exec
--
-- The lock holder's heartbeat, written on the lock's own session when it
-- takes the lock and every minute after: proof that the session holding the
-- lock and the process behind it are alive. A run that finds the lock taken
-- reads its age (running_age.sql). On a table of its own, not the run's
-- record, so that it never waits for a batch's transaction, which holds the
-- record's row to move its counters.
INSERT INTO reconciler_lock_heartbeats (lock_key, run_pid, beat_at)
VALUES ($1, pg_backend_pid(), now())
ON CONFLICT (lock_key) DO UPDATE SET run_pid = excluded.run_pid, beat_at = excluded.beat_at
