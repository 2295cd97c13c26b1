-- name: TryLock :one
--
-- A session-level advisory lock, held on a dedicated connection for the whole
-- run, so that a second applying run exits at once instead of doing the work
-- twice. The unique ledger index is what makes a double credit impossible; the
-- lock only saves the wasted work and the noise.
SELECT pg_try_advisory_lock($1)
