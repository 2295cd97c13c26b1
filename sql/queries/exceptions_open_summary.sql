-- name: ExceptionsOpenSummary :one
--
-- The open exceptions after a run, every shard's: how many, how many nobody
-- acknowledged since they last opened, and the oldest of those (the metric
-- connects_reconciler_oldest_unacknowledged_exception_age_seconds). Reads
-- the partial index of open exceptions and probes each one's latest ack by
-- index; open exceptions are few compared with the marketplace.
SELECT count(*) AS open,
       count(*) FILTER (WHERE NOT acked) AS unacknowledged,
       min(e.open_since) FILTER (WHERE NOT acked) AS oldest_unacknowledged
FROM reconciler_exceptions e
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM reconciler_exception_acks a
                   WHERE a.exception_id = e.id AND a.acked_at >= e.open_since) AS acked
) x
WHERE e.state = 'open'
