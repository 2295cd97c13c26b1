-- name: ChangedProposals :many
--
-- The proposals an incremental run plans for its events: every proposal of a
-- job closed or removed ($1), and every boosted proposal of an auction that
-- ended ($2). Index lookups by job (proposals_job_id_idx) and by proposal
-- (boost_bids_pkey), however scattered the jobs are over the id space.
--
-- The arrays go through scalar subqueries (InitPlans), hidden from the
-- planner: on thousands of job ids it would estimate each element and, on
-- the rows they add up to, may read the whole proposals table instead.
--
-- UNION ALL, unordered: the program sorts the ids and drops the few that
-- both parts return (a boosted proposal of a job that closed and whose
-- auction ended). A UNION's hash and the ORDER BY's sort were a fifth of
-- the statement at 5M (24,759 ids: 21 of 94 ms); sorting int64s in Go costs
-- about a millisecond.
--
-- Parameters: $1 job ids of closures, $2 job ids of auction ends.
SELECT p.id
FROM proposals p
WHERE p.job_id = ANY ((SELECT $1::bigint[])::bigint[])
UNION ALL
SELECT b.proposal_id
FROM proposals p
JOIN boost_bids b ON b.proposal_id = p.id
WHERE p.job_id = ANY ((SELECT $2::bigint[])::bigint[])
