-- name: ChangedEvents :many
--
-- The events an incremental run reconciles: jobs closed or removed in the
-- job-closure window and boost auctions ended in the auction window, each
-- window (watermark - lookback, cutoff), less the events a successful run of
-- this shard already planned (reconciler_seen_events). The lookback catches
-- rows committed later than their timestamp says; the seen events keep it
-- from re-planning, tick after tick, what nothing changed. Index range scans
-- (jobs_closed_at_idx, boost_auctions_ended_at_idx) and primary-key probes.
--
-- A full sweep reads the same windows with $4 = '-' (a shard name no run
-- uses, so nothing is subtracted): everything visible now in the last
-- lookback is planned by the sweep, and recorded as seen when it succeeds.
--
-- Only closures that rules 1 and 2 can entitle are events (closed with
-- no_hire, removed for tos_violation: the job states policy.sql's facts call
-- no_hire_close and removal): a job closed hired, expired or for inactivity
-- owes nothing for its close, so an incremental run does not look its
-- proposals up (about two thirds of a day's closures). What such proposals
-- may still hold (an unexpected refund, a defect) is a discrepancy, which
-- the daily full sweep reports; incremental runs say they do not check them.
--
-- Parameters: $1 closures since, $2 auction ends since, $3 cutoff, $4 shard.
SELECT 'job_closures' AS source, j.id AS job_id, j.closed_at AS event_at
FROM jobs j
WHERE j.closed_at > $1 AND j.closed_at < $3
  AND ((j.status = 'closed' AND j.close_reason = 'no_hire') OR (j.status = 'removed' AND j.close_reason = 'tos_violation'))
  AND NOT EXISTS (SELECT 1 FROM reconciler_seen_events s
                  WHERE s.shard = $4 AND s.source = 'job_closures' AND s.job_id = j.id AND s.event_at = j.closed_at)
UNION ALL
SELECT 'auction_ends', a.job_id, a.ended_at
FROM boost_auctions a
WHERE a.ended_at > $2 AND a.ended_at < $3
  AND NOT EXISTS (SELECT 1 FROM reconciler_seen_events s
                  WHERE s.shard = $4 AND s.source = 'auction_ends' AND s.job_id = a.job_id AND s.event_at = a.ended_at)
ORDER BY 1, 2
