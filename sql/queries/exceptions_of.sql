-- name: ExceptionsOf :many
--
-- The exceptions of the given (proposal, component, kind) keys, with their
-- latest acknowledgement: the discrepancies export joins the plan it made
-- to the job's tables with it. The keys come as three parallel arrays and are
-- joined to the unique key's index in one statement, not looked up one by one.
-- The columns are exception_row.sql's.
--
-- Parameters: $1 proposal ids, $2 components, $3 kinds.
SELECT {{template "exception_columns"}}
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k (proposal_id, component, kind)
JOIN reconciler_exceptions e USING (proposal_id, component, kind)
{{template "latest_ack"}}
ORDER BY e.proposal_id, e.component, e.kind
