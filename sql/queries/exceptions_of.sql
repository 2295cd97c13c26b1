-- name: ExceptionsOf :many
--
-- The exceptions of the given (proposal, component, kind) keys, with their
-- latest acknowledgement: the discrepancies export joins the plan it made
-- to the job's tables with it. The keys come as three parallel arrays and are
-- joined to the unique key's index in one statement, not looked up one by one.
-- The columns are those of exceptions_list.sql.
--
-- Parameters: $1 proposal ids, $2 components, $3 kinds.
SELECT e.id, e.proposal_id, e.component, e.kind, e.freelancer_id, e.job_id, e.rule, e.charged, e.refunded,
       e.refunded_to, e.state, e.first_seen_at, e.first_run_id, e.last_seen_at, e.last_run_id, e.open_since,
       e.closed_at, coalesce(e.closed_run_id, '') AS closed_run_id, e.reopened_count, e.reopened_at,
       a.acked_at, coalesce(a.acked_by, '') AS acked_by, coalesce(a.note, '') AS note
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k (proposal_id, component, kind)
JOIN reconciler_exceptions e USING (proposal_id, component, kind)
LEFT JOIN LATERAL (
    SELECT acked_at, acked_by, note FROM reconciler_exception_acks
    WHERE exception_id = e.id ORDER BY acked_at DESC, id DESC LIMIT 1
) a ON TRUE
ORDER BY e.proposal_id, e.component, e.kind
