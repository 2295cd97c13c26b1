-- name: ActivityTouched :exec
--
-- The proposals the day's events touched, in a temporary table: those of the
-- new jobs, of the jobs closed today, and the bids in the auctions that ended
-- today. activity_online_refunds.sql evaluates the policy for these only.
CREATE TEMPORARY TABLE activity_touched ON COMMIT DROP AS
SELECT p.id FROM activity_jobs j JOIN proposals p ON p.job_id = j.id
UNION
SELECT p.id FROM activity_closed c JOIN proposals p ON p.job_id = c.id
UNION
SELECT bb.proposal_id FROM activity_ended e JOIN proposals p ON p.job_id = e.job_id JOIN boost_bids bb ON bb.proposal_id = p.id
