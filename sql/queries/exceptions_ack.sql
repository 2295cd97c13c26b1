-- name: ExceptionsAck :one
--
-- Appends an acknowledgement. Acks are never updated or deleted (the job's
-- role has only SELECT and INSERT on the table, and a trigger refuses both):
-- the exception shows its latest, the history stays. acked_at is the
-- database's clock, like every other time of the job's.
--
-- Parameters: $1 exception id, $2 by whom, $3 the note.
INSERT INTO reconciler_exception_acks (exception_id, acked_by, note)
VALUES ($1, $2, $3)
RETURNING acked_at
