-- name: ExportRefunds :many
--
-- Every refund entry of the ledger created in [$9, $10), whoever wrote it, in
-- created_at, id order, for the finance export. Rows are streamed to the
-- client as they come; nothing is collected in memory.
--
-- issued_by is 'reconciler' when the job wrote the entry (a reconciler_refunds
-- audit row exists: its rule and run id come from there), 'online' otherwise.
-- An online refund's rule is the one the policy assigns now: the policy
-- fragment is rendered with the byRefunded filter (the proposals that have a
-- refund created in the period, so it reads only their rows) and evaluated
-- with a cutoff far in the future, since who is entitled does not depend on
-- the settle delay. A rule that entitles nothing because nothing was charged
-- counts as no rule, as in the policy's own unexpected_refund.
--
-- Parameters: $1-$8 the policy's, $9 period start, $10 period end.
WITH {{template "policy.sql" .}}
SELECT l.id                                   AS entry_id,
       l.created_at,
       l.freelancer_id,
       coalesce(l.proposal_id, 0)             AS proposal_id,
       coalesce(p.job_id, rr.job_id, 0)       AS job_id,
       coalesce(l.component, '')              AS component,
       l.amount                               AS connects,
       CASE WHEN rr.ledger_entry_id IS NOT NULL THEN 'reconciler' ELSE 'online' END AS issued_by,
       CASE WHEN rr.ledger_entry_id IS NOT NULL THEN rr.rule
            WHEN d.charged > 0 THEN coalesce(d.rule, '')
            ELSE ''
       END                                    AS rule,
       coalesce(rr.run_id, '')                AS run_id,
       l.idempotency_key
FROM connects_ledger l
LEFT JOIN proposals p ON p.id = l.proposal_id
LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = l.id
LEFT JOIN decisions d ON d.proposal_id = l.proposal_id AND d.component = l.component
WHERE l.entry_type = 'refund'
  AND l.created_at >= $9 AND l.created_at < $10
ORDER BY l.created_at, l.id
