-- name: ApplyLock :exec
--
-- Bounds how long the statements of one apply transaction wait for a row
-- lock another transaction holds (a balance row, a refund key being
-- inserted online): lock_timeout for this transaction only.
--
-- Parameters: $1 the timeout in milliseconds, as text.
SELECT set_config('lock_timeout', $1, true)
