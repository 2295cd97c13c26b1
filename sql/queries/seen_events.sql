-- name: SeenEvents :many
--
-- The events a successful run of the shard already planned, from $2 on: read
-- from the primary when the run plans on a replica, whose copy may lag.
SELECT source, job_id, event_at
FROM reconciler_seen_events
WHERE shard = $1 AND event_at > $2
