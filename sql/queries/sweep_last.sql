-- name: SweepLast :many
--
-- The last full sweep on record by a time (NULL: the last of all), for the
-- finance report and the discrepancies export. Unsharded, that is one row;
-- when the last sweep was a shard's (I/N), the last sweep of each shard of N,
-- so that together they cover every account. The last sweep is found by the
-- index on recorded_at; its siblings among the sweeps of that shard count,
-- which are few (one a day per shard). Nothing here reads the marketplace.
--
-- Parameters: $1 recorded at or before (NULL for any time).
WITH last AS (
    SELECT w.run_id, w.shard
    FROM reconciler_sweeps w
    WHERE $1::timestamptz IS NULL OR w.recorded_at <= $1::timestamptz
    ORDER BY w.recorded_at DESC, w.run_id DESC
    LIMIT 1
)
SELECT DISTINCT ON (w.shard)
       w.run_id, w.shard, w.status, w.as_of, w.settle_cutoff, w.recorded_at,
       r.refunds_planned, r.connects_planned, r.refunds_issued, r.connects_issued, r.refunds_skipped
FROM last
JOIN reconciler_sweeps w
  ON w.run_id = last.run_id
  OR (last.shard <> '' AND w.shard LIKE '%/' || split_part(last.shard, '/', 2))
JOIN reconciler_runs r ON r.id = w.run_id
WHERE $1::timestamptz IS NULL OR w.recorded_at <= $1::timestamptz
ORDER BY w.shard, w.recorded_at DESC, w.run_id DESC
