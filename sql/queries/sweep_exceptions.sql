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
-- cost is the open exceptions', not the marketplace's. The columns are
-- exception_row.sql's.
--
-- Parameters: $1 the sweep's plan time, $2 the kinds in their order.
SELECT {{template "exception_columns"}}
FROM reconciler_exceptions e
{{template "latest_ack"}}
WHERE e.state = 'open' AND e.open_since <= $1::timestamptz
ORDER BY coalesce(array_position($2::text[], e.kind), 1000), e.kind, e.proposal_id, e.component
