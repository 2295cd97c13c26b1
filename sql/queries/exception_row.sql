{{- /* name: exception_row (fragments, not statements)

An exception as the store reads it (postgres.exceptionRow: by column name),
with its latest acknowledgement: exception_columns is the select list over
reconciler_exceptions e and the acknowledgement a, latest_ack the LATERAL
probe of the acks' index that gives a (the append-only history is never
aggregated). exceptions_list.sql, exceptions_of.sql and sweep_exceptions.sql
read through them. */ -}}
{{define "exception_columns"}}e.id, e.proposal_id, e.component, e.kind, e.freelancer_id, e.job_id, e.rule, e.charged, e.refunded,
       e.refunded_to, e.state, e.first_seen_at, e.first_run_id, e.last_seen_at, e.last_run_id, e.open_since,
       e.closed_at, coalesce(e.closed_run_id, '') AS closed_run_id, e.reopened_count, e.reopened_at,
       a.acked_at, coalesce(a.acked_by, '') AS acked_by, coalesce(a.note, '') AS note{{end}}
{{define "latest_ack"}}LEFT JOIN LATERAL (
    SELECT acked_at, acked_by, note FROM reconciler_exception_acks
    WHERE exception_id = e.id ORDER BY acked_at DESC, id DESC LIMIT 1
) a ON TRUE{{end}}
