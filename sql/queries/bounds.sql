-- name: ProposalBounds :one
--
-- The proposal-id space a full sweep walks in ranges: every proposal, and
-- every ledger entry naming a proposal (one that does not exist is reported,
-- so it must be reached). Both are index-only min/max reads.
SELECT coalesce(least(min(p.lo), min(l.lo)), 0) AS lo, coalesce(greatest(max(p.hi), max(l.hi)), -1) AS hi
FROM (SELECT min(id) AS lo, max(id) AS hi FROM proposals) p,
     (SELECT min(proposal_id) AS lo, max(proposal_id) AS hi FROM connects_ledger WHERE proposal_id IS NOT NULL) l
