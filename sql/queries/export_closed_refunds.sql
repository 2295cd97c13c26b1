-- name: ExportClosedRefunds :many
--
-- The refunds export of a closed period ($3: its id; [$1, $2) its bounds):
-- exactly the entries it held when it was closed
-- (reconciler_closed_period_entries), its adjustments included, in
-- created_at, id order, with their matches. A refund entry created later
-- with a timestamp inside the period is not among them (it is an adjustment
-- of a later period); an entry deleted or changed since makes the export
-- differ from the closed one, which the caller checks against the recorded
-- sha256 (closed_period_changes.sql names what changed).
{{- /* the rows without their order: report_refund_totals.sql sums them */ -}}
{{define "export_closed_refunds_rows"}}SELECT {{template "refund_columns"}},
       coalesce({{template "adjusts"}}, '')               AS adjusts_period
FROM reconciler_closed_period_entries e
JOIN connects_ledger l ON l.id = e.ledger_entry_id AND l.entry_type = 'refund'
{{template "refund_joins"}}
WHERE e.period_id = $3{{end}}
{{template "export_closed_refunds_rows"}}
ORDER BY l.created_at, l.id
