-- name: SeedCandidates :exec
--
-- The proposals any rule of the contract could entitle to a refund: those of
-- jobs closed without a hire or removed (rules 1 and 2) and those whose boost
-- was outbid (rule 3). online_refunds.sql evaluates the rules for these only:
-- what is owed for them is the same as over every proposal, and the others
-- are owed nothing, so nothing is lost, while the rules, whose cost grows
-- with the proposals they read, read a fifth of them. A new rule in owed.sql
-- must widen this set.
CREATE TEMPORARY TABLE synth_candidates ON COMMIT DROP AS
SELECT p.id
FROM jobs j
JOIN proposals p ON p.job_id = j.id
WHERE j.status = 'removed' OR j.close_reason IN ('no_hire', 'tos_violation')
UNION
SELECT proposal_id FROM boost_bids WHERE outcome = 'outbid'
