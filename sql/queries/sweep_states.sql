-- name: SweepStates :many
--
-- The totals per state recorded by the given sweeps (one per shard), added
-- up: a primary-key read of a few rows per sweep.
--
-- Parameters: $1 run ids.
SELECT state, sum(count)::bigint AS count, sum(connects)::bigint AS connects, min(oldest_event_at) AS oldest_event_at,
       sum(open)::bigint AS open, sum(older_7d)::bigint AS older_7d, sum(older_30d)::bigint AS older_30d,
       sum(unacknowledged)::bigint AS unacknowledged, min(oldest_open_since) AS oldest_open_since
FROM reconciler_sweep_states
WHERE run_id = ANY ($1::text[])
GROUP BY state
