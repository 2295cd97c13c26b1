-- name: SynthInsertJobs :execrows
--
-- The planned jobs (synth_jobs, written by seed_jobs.sql or activity_jobs.sql),
-- in id order so that index inserts stay at the right edge.
INSERT INTO jobs (id, client_id, status, close_reason, closed_at)
SELECT id, client_id, status, close_reason, closed_at
FROM synth_jobs
ORDER BY id
