-- name: ProposalBounds :one
--
-- The proposal-id space a full sweep walks in ranges.
SELECT coalesce(min(id), 0) AS lo, coalesce(max(id), -1) AS hi FROM proposals
