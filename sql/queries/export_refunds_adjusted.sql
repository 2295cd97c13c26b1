-- name: ExportRefundsAdjusted :many
--
-- The refunds export of an open period [$1, $2) once periods before it are
-- closed: its own refund entries (as export_refunds.sql), and the
-- adjustments it carries: entries created inside a closed period (ending by
-- $2) that are not among that period's closed entries (committed late, with
-- an earlier timestamp) and that a run first matched in [$1, $2), or, when it
-- matched them before the period was closed, at its closing. adjusts_period
-- names the closed period such a row adjusts; '' for the period's own rows.
-- An entry late under a closed period and not matched yet is in no export
-- until a run matches it (the daily full sweep at the latest).
{{- /* the rows without their order: report_refund_totals.sql sums them */ -}}
{{define "export_refunds_adjusted_rows"}}WITH adjustments AS MATERIALIZED (
    SELECT l.id
    FROM reconciler_closed_periods c
    JOIN connects_ledger l ON l.entry_type = 'refund' AND l.created_at >= c.period_from AND l.created_at < c.period_to
    JOIN reconciler_refund_matches am ON am.ledger_entry_id = l.id
    WHERE c.period_to <= $2
      AND greatest(am.matched_at, c.closed_at) >= $1 AND greatest(am.matched_at, c.closed_at) < $2
      AND NOT EXISTS (SELECT 1 FROM reconciler_closed_period_entries e WHERE e.period_id = c.id AND e.ledger_entry_id = l.id)
)
SELECT {{template "refund_columns"}},
       ''                                                 AS adjusts_period
FROM connects_ledger l
{{template "refund_joins"}}
WHERE l.entry_type = 'refund'
  AND l.created_at >= $1 AND l.created_at < $2
UNION ALL
SELECT {{template "refund_columns"}},
       coalesce({{template "adjusts"}}, '')               AS adjusts_period
FROM adjustments a
JOIN connects_ledger l ON l.id = a.id
{{template "refund_joins"}}{{end}}
{{template "export_refunds_adjusted_rows"}}
ORDER BY 2, 1
