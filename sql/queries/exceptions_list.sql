-- name: ExceptionsList :many
--
-- discrepancies list: exceptions by state, kind and age, oldest first, each
-- with its latest acknowledgement (a LATERAL probe of the acks' index, so
-- the append-only history is never aggregated). Rows stream to the command.
-- The age of an open exception runs to now, a closed one's to its close.
--
-- Parameters: $1 state ('' for all), $2 kind ('' for all), $3 minimum age in
-- seconds (0 for any).
SELECT {{template "exception_columns"}}
FROM reconciler_exceptions e
{{template "latest_ack"}}
WHERE ($1 = '' OR e.state = $1)
  AND ($2 = '' OR e.kind = $2)
  AND (CASE WHEN e.state = 'closed' THEN e.closed_at ELSE now() END) - e.open_since >= make_interval(secs => $3)
ORDER BY e.open_since, e.id
