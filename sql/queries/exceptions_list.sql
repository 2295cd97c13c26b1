-- name: ExceptionsList :many
--
-- discrepancies list: exceptions by state, kind and age, oldest first, each
-- with its latest acknowledgement (a LATERAL probe of the acks' index, so
-- the append-only history is never aggregated). Rows stream to the command.
-- The age of an open exception runs to now, a closed one's to its close.
--
-- Parameters: $1 state ('' for all), $2 kind ('' for all), $3 minimum age in
-- seconds (0 for any).
SELECT e.id, e.proposal_id, e.component, e.kind, e.freelancer_id, e.job_id, e.rule, e.charged, e.refunded,
       e.refunded_to, e.state, e.first_seen_at, e.first_run_id, e.last_seen_at, e.last_run_id, e.open_since,
       e.closed_at, coalesce(e.closed_run_id, '') AS closed_run_id, e.reopened_count, e.reopened_at,
       a.acked_at, coalesce(a.acked_by, '') AS acked_by, coalesce(a.note, '') AS note
FROM reconciler_exceptions e
LEFT JOIN LATERAL (
    SELECT acked_at, acked_by, note FROM reconciler_exception_acks
    WHERE exception_id = e.id ORDER BY acked_at DESC, id DESC LIMIT 1
) a ON TRUE
WHERE ($1 = '' OR e.state = $1)
  AND ($2 = '' OR e.kind = $2)
  AND (CASE WHEN e.state = 'closed' THEN e.closed_at ELSE now() END) - e.open_since >= make_interval(secs => $3)
ORDER BY e.open_since, e.id
