-- name: ExportRefunds :many
--
-- Every refund entry of the ledger created in the period [$1, $2), whoever
-- wrote it, in created_at, id order, for the finance export. Rows are
-- streamed to the client as they come; nothing is collected in memory.
--
-- Everything but the ledger's own columns comes from the entry's match
-- (reconciler_refund_matches), written once by the run that first saw the
-- entry settled and never rewritten: the rule, the verdict, who issued it and
-- the job's run that wrote it. So the export of a period does not change when
-- the policy settings do, and it evaluates no policy: it reads the ledger's
-- refunds by (created_at, id) and looks each match up by key.
--
-- An entry no run matched yet (inside the settle delay, or committed late)
-- says so: verdict 'unmatched', no rule; its job is looked up by key, and a
-- refund the job wrote before matches existed keeps its audit row's rule and
-- run.
SELECT l.id                                               AS entry_id,
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
       coalesce(m.verdict, 'unmatched')                   AS verdict
FROM connects_ledger l
LEFT JOIN reconciler_refund_matches m ON m.ledger_entry_id = l.id
-- only for an entry with no match: the job's audit row, when it wrote it
LEFT JOIN LATERAL (SELECT rr.job_id, rr.rule, rr.run_id FROM reconciler_refunds rr
                   WHERE m.ledger_entry_id IS NULL AND rr.ledger_entry_id = l.id) u ON true
WHERE l.entry_type = 'refund'
  AND l.created_at >= $1 AND l.created_at < $2
ORDER BY l.created_at, l.id
