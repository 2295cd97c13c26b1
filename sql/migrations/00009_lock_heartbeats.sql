-- The heartbeat of the run holding each run lock. The holder writes it every
-- minute on the lock's own session, so a run that finds the lock taken can
-- tell a holder that works (a three-hour full sweep) from one that is dead or
-- hung (a crashed pod whose session the server still keeps, a frozen node):
-- it reports how long the holder has been silent
-- (connects_reconciler_running_run_heartbeat_age_seconds), which pages long
-- before the holder's age alone would. One row per lock, overwritten by each
-- holder as it takes the lock.

-- +goose Up
CREATE TABLE reconciler_lock_heartbeats (
    lock_key text        PRIMARY KEY,  -- reconcile.LockKey: one per shard
    run_pid  integer     NOT NULL,     -- pg_backend_pid() of the session holding the lock
    beat_at  timestamptz NOT NULL      -- the holder's last heartbeat, on the database's clock
);
GRANT SELECT, INSERT, UPDATE, DELETE ON reconciler_lock_heartbeats TO connects_reconciler;

-- +goose Down
DROP TABLE reconciler_lock_heartbeats;
