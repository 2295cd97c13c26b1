-- name: ChangedProposals :many
--
-- The proposals an incremental run plans for its events: every proposal of a
-- job closed or removed ($1), and every boosted proposal of an auction that
-- ended ($2). Index lookups by job (proposals_job_id_idx) and by proposal
-- (boost_bids_pkey), however scattered the jobs are over the id space.
--
-- Parameters: $1 job ids of closures, $2 job ids of auction ends.
SELECT p.id
FROM proposals p
WHERE p.job_id = ANY ($1::bigint[])
UNION
SELECT b.proposal_id
FROM proposals p
JOIN boost_bids b ON b.proposal_id = p.id
WHERE p.job_id = ANY ($2::bigint[])
ORDER BY 1
