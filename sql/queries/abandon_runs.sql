-- name: AbandonRuns :execrows
--
-- Runs still marked running while this run holds their lock were killed before
-- they could record an outcome (kill -9, lost node). Their committed batches
-- stand; only the record is closed.
UPDATE reconciler_runs
SET status = 'abandoned', finished_at = now(),
    error = 'the process ended without recording an outcome'
WHERE status = 'running' AND shard = $1 AND id <> $2
