-- name: ExceptionsUpsert :one
--
-- Files one run's sightings: a new exception is opened (first and last seen
-- by this run), a known one refreshed (last seen, what the run found), a
-- closed one reopened (reopened_count, reopened_at, open_since move; its last
-- closed_at stays as history). One INSERT ... ON CONFLICT over the staged rows,
-- so the cost is one pass whatever the number.
--
-- A sighting older than what the row already holds (a run of another shard
-- or scope that planned earlier but finished later) changes nothing: it must
-- not reopen what a later sweep closed, nor move last_seen back.
--
-- Parameters: $1 run id, $2 the plan's time (database clock).
-- Returns how many rows were staged, opened and reopened.
WITH up AS (
    INSERT INTO reconciler_exceptions AS e
        (proposal_id, component, kind, freelancer_id, job_id, rule, charged, refunded, refunded_to,
         state, first_seen_at, first_run_id, last_seen_at, last_run_id, open_since)
    SELECT s.proposal_id, s.component, s.kind, s.freelancer_id, s.job_id, s.rule, s.charged, s.refunded, s.refunded_to,
           'open', $2::timestamptz, $1::text, $2::timestamptz, $1::text, $2::timestamptz
    FROM reconciler_exceptions_seen s
    ORDER BY s.proposal_id, s.component, s.kind  -- a stable lock order against a concurrent run
    ON CONFLICT (proposal_id, component, kind) DO UPDATE
    SET freelancer_id  = excluded.freelancer_id,
        job_id         = excluded.job_id,
        rule           = excluded.rule,
        charged        = excluded.charged,
        refunded       = excluded.refunded,
        refunded_to    = excluded.refunded_to,
        last_seen_at   = excluded.last_seen_at,
        last_run_id    = excluded.last_run_id,
        state          = 'open',
        reopened_count = e.reopened_count + CASE WHEN e.state = 'closed' THEN 1 ELSE 0 END,
        reopened_at    = CASE WHEN e.state = 'closed' THEN excluded.last_seen_at ELSE e.reopened_at END,
        open_since     = CASE WHEN e.state = 'closed' THEN excluded.last_seen_at ELSE e.open_since END
    WHERE e.last_seen_at <= excluded.last_seen_at
      AND (e.state = 'open' OR e.closed_at < excluded.last_seen_at)
    RETURNING (xmax = 0) AS inserted, (reopened_at = $2 AND reopened_count > 0) AS reopened
)
SELECT (SELECT count(*) FROM reconciler_exceptions_seen) AS seen,
       count(*) FILTER (WHERE inserted) AS opened,
       count(*) FILTER (WHERE reopened AND NOT inserted) AS reopened
FROM up
