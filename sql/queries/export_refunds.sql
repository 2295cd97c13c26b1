-- name: ExportRefunds :many
--
-- Every refund entry of the ledger created in the period, whoever wrote it, in
-- created_at, id order, for the finance export. Rows are streamed to the
-- client as they come; nothing is collected in memory.
--
-- issued_by is 'reconciler' when the job wrote the entry (a reconciler_refunds
-- audit row exists: its rule and run id come from there), 'online' otherwise.
-- An online refund's rule is the one the policy assigns now: the policy
-- fragment is rendered with the byRefunded filter (the proposals that have a
-- refund created in the period, so it reads only their rows) and evaluated
-- once, set-based, with a cutoff far in the future, since who is entitled does
-- not depend on the settle delay. A rule that entitles nothing because nothing
-- was charged counts as no rule, as in the policy's own unexpected_refund.
--
-- Why it is shaped so (docs/benchmarks.md, "Export against COPY"): the policy
-- evaluation over the refunded proposals is the statement's main cost, so
-- nothing else reads a table twice. The job id comes from the policy's own
-- facts (its proposals join) rather than from a second join of all proposals:
-- decisions has a row for every refunded base or boost component. Only a
-- refund it has no row for (no component) looks its proposal up by key; the
-- audit row, when there is one, names the job of a proposal that has since
-- disappeared.
--
-- Parameters: the policy's, then the period's (the template call .Period
-- renders "col >= start AND col < end" with their numbers, so that this file
-- does not depend on how many parameters the policy takes).
WITH {{template "policy.sql" .}}
SELECT l.id                                           AS entry_id,
       l.created_at,
       l.freelancer_id,
       coalesce(l.proposal_id, 0)                     AS proposal_id,
       coalesce(nullif(d.job_id, 0),
                (SELECT p.job_id FROM proposals p WHERE p.id = l.proposal_id),
                rr.job_id, 0)                         AS job_id,
       coalesce(l.component, '')                      AS component,
       l.amount                                       AS connects,
       CASE WHEN rr.ledger_entry_id IS NOT NULL THEN 'reconciler' ELSE 'online' END AS issued_by,
       CASE WHEN rr.ledger_entry_id IS NOT NULL THEN rr.rule
            WHEN d.charged > 0 THEN coalesce(d.rule, '')
            ELSE ''
       END                                            AS rule,
       coalesce(rr.run_id, '')                        AS run_id,
       l.idempotency_key
FROM connects_ledger l
LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = l.id
LEFT JOIN decisions d ON d.proposal_id = l.proposal_id AND d.component = l.component
WHERE l.entry_type = 'refund'
  AND {{.Period "l.created_at"}}
ORDER BY l.created_at, l.id
