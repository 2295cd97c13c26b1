-- name: ExceptionsClose :execrows
--
-- A full sweep is the authority on closing: every open exception of its
-- shard's accounts that it did not find is closed (never deleted). An
-- incremental run only sees what changed, so it never runs this. The shard
-- predicate is the policy's own ({{.Shard "col"}} on the account charged),
-- so a shard's sweep closes only what it could have found; last_seen_at < $2
-- leaves alone what a run that planned later has seen meanwhile.
--
-- Parameters: $1 run id, $2 the plan's time.
UPDATE reconciler_exceptions e
SET state = 'closed', closed_at = $2, closed_run_id = $1
WHERE e.state = 'open'
  AND e.last_seen_at < $2
  AND {{.Shard "e.freelancer_id"}}
  AND NOT EXISTS (SELECT 1 FROM reconciler_exceptions_seen s
                  WHERE s.proposal_id = e.proposal_id AND s.component = e.component AND s.kind = e.kind)
