-- name: SeedInsertJobs :exec
--
-- The jobs of the seed's plan (seed_jobs.sql). Timestamps are the anchor minus
-- the planned offsets (seconds, so no calendar arithmetic is involved).
--
-- Parameters: $1 anchor.
INSERT INTO jobs (id, client_id, status, close_reason, closed_at)
SELECT id, client_id, status, close_reason,
       $1::timestamptz - interval '1 second' * close_off
FROM seed_jobs
