-- name: ActivityNewAuctions :execrows
--
-- The boost auctions of the day's boosted new jobs: a hired job's ended at the
-- hire, the others are still running (ended_at NULL: seven days have not
-- passed since posting).
INSERT INTO boost_auctions (job_id, ended_at)
SELECT id, CASE WHEN close_reason = 'hired' THEN closed_at END
FROM activity_jobs
WHERE boosted
ORDER BY id
