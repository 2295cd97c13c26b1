-- name: SeedCandidates :exec
--
-- The proposals any rule of the contract could entitle to a refund: those of
-- jobs closed without a hire or removed (rules 1 and 2) and those whose boost
-- was outbid (rule 3). seed_online_refunds.sql evaluates the policy for these
-- only: the policy's decisions for them are the same as over every proposal,
-- and the others have no refund yet, so nothing is lost, while the policy,
-- whose cost grows with the proposals it reads, reads a fifth of them.
-- A new rule in policy.sql must widen this set.
CREATE TEMPORARY TABLE seed_candidates ON COMMIT DROP AS
SELECT p.id
FROM jobs j
JOIN proposals p ON p.job_id = j.id
WHERE j.status = 'removed' OR j.close_reason IN ('no_hire', 'tos_violation')
UNION
SELECT proposal_id FROM boost_bids WHERE outcome = 'outbid'
