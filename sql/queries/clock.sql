-- name: Clock :one
--
-- One reading of the database clock per run: every batch, and a dry run made
-- at the same moment, use the same settle cutoff.
SELECT now()
