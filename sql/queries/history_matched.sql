-- name: HistoryMatched :one
--
-- Whether a full sweep covering the shard ($1: its own, or an unsharded one)
-- ever succeeded: it matched every settled refund entry of the history it
-- saw, so a later sweep's plan need not look for unmatched ones (plan.sql
-- without .Matches); match_refunds.sql matches what arrived since.
SELECT EXISTS (
    SELECT 1 FROM reconciler_runs r
    WHERE r.mode = 'run' AND r.scope = 'full' AND r.status = 'succeeded' AND r.shard IN ($1, '')
) AS matched
