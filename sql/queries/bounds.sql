-- name: ProposalBounds :one
--
-- The proposal-id space a full sweep walks in ranges, and the database's
-- clock: one reading of now() per run, so every batch (and a dry run made at
-- the same moment) uses the same settle cutoff.
SELECT coalesce(min(id), 0) AS lo, coalesce(max(id), 0) AS hi, now() AS now
FROM proposals
