-- name: ActivityInsertJobs :execrows
--
-- The day's new jobs (activity_jobs.sql).
INSERT INTO jobs (id, client_id, status, close_reason, closed_at)
SELECT id, client_id, status, close_reason, closed_at
FROM activity_jobs
ORDER BY id
