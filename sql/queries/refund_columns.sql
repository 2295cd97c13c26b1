{{- /* name: refund_columns (a fragment, not a statement)

The refunds export's columns of one refund entry, for export_refunds.sql,
export_refunds_adjusted.sql and export_closed_refunds.sql: "l" is its
connects_ledger row, "m" its match (reconciler_refund_matches, or NULLs),
"u" its audit row when it has no match (the lateral join below). Everything
but the ledger's own columns comes from the match, written once and never
rewritten, so the rows do not depend on today's policy settings. An entry no
run matched yet says so: verdict 'unmatched', no rule; its job is looked up
by key, and a refund the job wrote before matches existed keeps its audit
row's rule and run. */ -}}
{{define "refund_columns"}}l.id                                               AS entry_id,
       l.created_at,
       l.freelancer_id,
       coalesce(l.proposal_id, 0)                         AS proposal_id,
       coalesce(m.job_id, u.job_id,
                (SELECT p.job_id FROM proposals p WHERE m.ledger_entry_id IS NULL AND p.id = l.proposal_id), 0) AS job_id,
       coalesce(l.component, '')                          AS component,
       l.amount                                           AS connects,
       coalesce(m.issued_by, CASE WHEN u.run_id IS NOT NULL THEN 'reconciler' ELSE 'online' END) AS issued_by,
       coalesce(m.rule, u.rule, '')                       AS rule,
       CASE WHEN m.issued_by = 'reconciler' THEN m.run_id ELSE coalesce(u.run_id, '') END AS run_id,
       l.idempotency_key,
       coalesce(m.verdict, 'unmatched')                   AS verdict{{end}}
{{define "refund_joins"}}LEFT JOIN reconciler_refund_matches m ON m.ledger_entry_id = l.id
-- only for an entry with no match: the job's audit row, when it wrote it
LEFT JOIN LATERAL (SELECT rr.job_id, rr.rule, rr.run_id FROM reconciler_refunds rr
                   WHERE m.ledger_entry_id IS NULL AND rr.ledger_entry_id = l.id) u ON true{{end}}
{{define "adjusts"}}(SELECT to_char(c.period_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '/' ||
               to_char(c.period_to AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        FROM reconciler_closed_periods c
        WHERE l.created_at >= c.period_from AND l.created_at < c.period_to
          AND NOT (l.created_at >= $1 AND l.created_at < $2)){{end}}
