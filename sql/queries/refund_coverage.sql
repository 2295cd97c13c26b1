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
-- shards; the whole history before any full sweep succeeded): a tick costs
-- the refunds that arrived since the last full sweep, a day's at most. A
-- full sweep counts as its own last one ($3, its run id: it matched in this
-- transaction, match_refunds.sql marked its high water), so the first one
-- does not read the history it just matched.
--
-- Shaped for that: the two conditions are two index range scans (the refund
-- index by created_at, the ledger's key by id) whose bounds are InitPlans,
-- and each entry's match is probed by key (OFFSET 0 keeps the probe a
-- subplan). Written as one OR over a join with the bounds, the planner read
-- every refund entry of the history and hashed every match: 65-90 ms of a
-- 0.11 s no-op tick at 1M proposals, most of its 0.59 s at 5M.
WITH last_full AS (
    SELECT DISTINCT ON (r.shard) r.settle_cutoff, r.ledger_high_water
    FROM reconciler_runs r
    WHERE r.mode = 'run' AND r.scope = 'full' AND (r.status = 'succeeded' OR r.id = $3)
    ORDER BY r.shard, r.settle_cutoff DESC
),
since AS MATERIALIZED (
    SELECT coalesce(min(settle_cutoff) - make_interval(secs => $2), '-infinity') AS t,
           coalesce(min(coalesce(ledger_high_water, 0)), 0) AS high_water
    FROM last_full
),
recent AS (
    SELECT l.id, l.amount, l.created_at
    FROM connects_ledger l
    WHERE l.entry_type = 'refund' AND l.created_at >= (SELECT t FROM since)
    UNION
    SELECT l.id, l.amount, l.created_at
    FROM connects_ledger l
    WHERE l.id > (SELECT high_water FROM since) AND l.entry_type = 'refund'
)
SELECT count(*) FILTER (WHERE l.created_at < $1)                       AS overdue_refunds,
       coalesce(sum(l.amount) FILTER (WHERE l.created_at < $1), 0)     AS overdue_connects,
       count(*) FILTER (WHERE l.created_at >= $1)                      AS settling_refunds,
       coalesce(sum(l.amount) FILTER (WHERE l.created_at >= $1), 0)    AS settling_connects,
       min(l.created_at)                                               AS oldest
FROM recent l
WHERE NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m WHERE m.ledger_entry_id = l.id OFFSET 0)
