-- name: SweepExceptions :many
--
-- The exceptions open as of the last full sweep: open now and open since no
-- later than its plan. Only a full sweep closes an exception, so every one
-- the sweep found is still open unless a later sweep closed it (and that one
-- is then the last); those an incremental run opened since are left out
-- (open_since after the sweep). Each comes with its latest acknowledgement;
-- whether that counts for the exception's current life is for the reader to
-- say (reconcile.Exception.Acknowledged). By kind, in the order given, then
-- proposal and component. Reads the partial index of open exceptions: the
-- cost is the open exceptions', not the marketplace's. The columns are those
-- of exceptions_list.sql.
--
-- Parameters: $1 the sweep's plan time, $2 the kinds in their order.
SELECT e.id, e.proposal_id, e.component, e.kind, e.freelancer_id, e.job_id, e.rule, e.charged, e.refunded,
       e.refunded_to, e.state, e.first_seen_at, e.first_run_id, e.last_seen_at, e.last_run_id, e.open_since,
       e.closed_at, coalesce(e.closed_run_id, '') AS closed_run_id, e.reopened_count, e.reopened_at,
       a.acked_at, coalesce(a.acked_by, '') AS acked_by, coalesce(a.note, '') AS note
FROM reconciler_exceptions e
LEFT JOIN LATERAL (
    SELECT acked_at, acked_by, note FROM reconciler_exception_acks
    WHERE exception_id = e.id ORDER BY acked_at DESC, id DESC LIMIT 1
) a ON TRUE
WHERE e.state = 'open' AND e.open_since <= $1::timestamptz
ORDER BY coalesce(array_position($2::text[], e.kind), 1000), e.kind, e.proposal_id, e.component
