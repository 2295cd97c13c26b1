-- name: ActivityCandidates :exec
--
-- The proposals the day's events touched, in a temporary table: those of the
-- new jobs, of the jobs closed today, the bids in the auctions that ended
-- today, and those that got a late interaction. online_refunds.sql evaluates
-- the rules for these only: nothing else changed today.
CREATE TEMPORARY TABLE synth_candidates ON COMMIT DROP AS
SELECT p.id FROM synth_jobs j JOIN proposals p ON p.job_id = j.id
UNION
SELECT p.id FROM activity_closed c JOIN proposals p ON p.job_id = c.id
UNION
SELECT bb.proposal_id FROM activity_ended e JOIN proposals p ON p.job_id = e.job_id JOIN boost_bids bb ON bb.proposal_id = p.id
UNION
SELECT proposal_id FROM proposal_interactions i CROSS JOIN synth_base b WHERE i.id > b.interaction0
