-- name: ApplyLockDefault :exec
--
-- Gives the apply transaction back the session's lock_timeout (the one it
-- connected with) for apply_audit.sql, whose only lock wait is on the run's
-- own record: with several apply workers, one worker's batch waits there for
-- the other's commit (its audit statement, balances and commit), which
-- apply_lock.sql's short timeout would turn into a failed attempt. The
-- marketplace never holds that row. apply_lock.sql sets the short timeout
-- again before apply_balances.sql.
SET LOCAL lock_timeout TO DEFAULT
