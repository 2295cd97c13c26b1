-- name: ReportRuns :many
--
-- The applying runs that started in [$1, $2), oldest first, for the finance
-- report. reconciler_runs_started_at_idx makes it a range scan; a month of
-- runs every 15 minutes is about 3000 rows.
SELECT id, mode, coalesce(scope, '') AS scope, shard, status, started_at, finished_at,
       refunds_planned, connects_planned, refunds_issued, connects_issued,
       refunds_skipped, discrepancies, coalesce(error, '') AS error
FROM reconciler_runs
WHERE started_at >= $1 AND started_at < $2
ORDER BY started_at, id
