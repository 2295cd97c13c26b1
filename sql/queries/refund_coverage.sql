-- name: RefundCoverage :one
--
-- Coverage, as a ledger team measures it: the refund entries no run has
-- matched yet, after this run's matching (same transaction), split by age
-- against the run's settle cutoff ($1): "settling" (created at or after it:
-- no run may match them yet) and "overdue" (created before it: a run should
-- have), with their Connects, and the oldest one's created_at.
--
-- Every full sweep matches every settled entry its snapshot holds, so only
-- entries created since the last successful full sweep's cutoff, less the
-- lookback ($2 seconds), or with a higher id than any it saw (committed
-- later, whatever their timestamp) are read (the earliest such sweep over
-- shards; the whole history before any full sweep succeeded): a tick costs a
-- day of refunds at most.
WITH last_full AS (
    SELECT DISTINCT ON (r.shard) r.settle_cutoff, r.ledger_high_water
    FROM reconciler_runs r
    WHERE r.mode = 'run' AND r.scope = 'full' AND r.status = 'succeeded'
    ORDER BY r.shard, r.settle_cutoff DESC
),
since AS (
    SELECT coalesce(min(settle_cutoff) - make_interval(secs => $2), '-infinity') AS t,
           coalesce(min(coalesce(ledger_high_water, 0)), 0) AS high_water
    FROM last_full
)
SELECT count(*) FILTER (WHERE l.created_at < $1)                       AS overdue_refunds,
       coalesce(sum(l.amount) FILTER (WHERE l.created_at < $1), 0)     AS overdue_connects,
       count(*) FILTER (WHERE l.created_at >= $1)                      AS settling_refunds,
       coalesce(sum(l.amount) FILTER (WHERE l.created_at >= $1), 0)    AS settling_connects,
       min(l.created_at)                                               AS oldest
FROM connects_ledger l
CROSS JOIN since
WHERE l.entry_type = 'refund' AND (l.created_at >= since.t OR l.id > since.high_water)
  AND NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m WHERE m.ledger_entry_id = l.id)
