-- name: LockHeartbeatEnd :exec
--
-- The holder's last act before it releases the lock: its heartbeat goes, so
-- that the row never speaks for a later holder that beats none.
DELETE FROM reconciler_lock_heartbeats WHERE lock_key = $1 AND run_pid = pg_backend_pid()
