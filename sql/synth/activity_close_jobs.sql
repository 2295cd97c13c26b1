-- name: ActivityCloseJobs :execrows
--
-- Closes the jobs activity_closures.sql picked.
UPDATE jobs j
SET status = c.status, close_reason = c.close_reason, closed_at = c.closed_at
FROM activity_closed c
WHERE j.id = c.id
