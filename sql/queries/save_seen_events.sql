-- name: SaveSeenEvents :exec
--
-- Records the events a successful run planned and still inside the lookback
-- of its new watermark, and forgets those that fell out of it, in the
-- transaction that moves the watermark.
--
-- Parameters: $1 shard, $2 run id, $3 forget events at or before this,
-- $4 sources, $5 job ids, $6 event times (parallel arrays).
WITH forget AS (
    DELETE FROM reconciler_seen_events WHERE shard = $1 AND event_at <= $3
)
INSERT INTO reconciler_seen_events (shard, source, job_id, event_at, run_id)
SELECT $1, s, j, e, $2
FROM unnest($4::text[], $5::bigint[], $6::timestamptz[]) AS n (s, j, e)
WHERE e > $3
ON CONFLICT (shard, source, job_id, event_at) DO NOTHING
