-- name: ExportRefunds :many
--
-- Every refund entry of the ledger created in the period [$1, $2), whoever
-- wrote it, in created_at, id order, for the finance export, when no closed
-- period ends by $2 (else export_refunds_adjusted.sql; a closed period itself:
-- export_closed_refunds.sql). Rows are streamed to the client as they come;
-- nothing is collected in memory.
--
-- The columns are refund_columns.sql's: the rule, verdict, issuer and run
-- come from the entry's match, so no policy is evaluated and the rows do not
-- change with the settings. The statement reads the ledger's refunds by
-- (created_at, id) and looks each match up by key: the shape of a COPY of
-- the same join (the benchmark's bound, sql/synth/export_copy.sql).
{{- /* the rows without their order: report_refund_totals.sql sums them */ -}}
{{define "export_refunds_rows"}}SELECT {{template "refund_columns"}},
       ''                                                 AS adjusts_period
FROM connects_ledger l
{{template "refund_joins"}}
WHERE l.entry_type = 'refund'
  AND l.created_at >= $1 AND l.created_at < $2{{end}}
{{template "export_refunds_rows"}}
ORDER BY l.created_at, l.id
