-- name: ExceptionsCopy :copyfrom
--
-- Streams one run's discrepancies from the plan's spool into the temporary
-- table of exceptions_stage.sql: lib/pq's COPY FROM STDIN protocol (a
-- prepared statement fed one row per Exec), so any number of rows costs one
-- round trip per buffer and flat memory, never a statement per row.
COPY reconciler_exceptions_seen (proposal_id, component, kind, freelancer_id, job_id, rule, charged, refunded, refunded_to) FROM STDIN
