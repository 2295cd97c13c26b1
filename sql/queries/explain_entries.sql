-- name: ExplainEntries :many
--
-- The ledger rows of the proposals $1 (fees, refunds, anything else carrying
-- a proposal id), with the run and rule of those the job wrote, for explain.
-- connects_ledger_proposal_idx makes it an index lookup per proposal.
SELECT l.id, l.created_at, l.freelancer_id, l.entry_type, l.proposal_id,
       coalesce(l.component, '') AS component, l.amount, l.idempotency_key,
       coalesce(rr.run_id, '') AS run_id, coalesce(rr.rule, '') AS rule
FROM connects_ledger l
LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = l.id
WHERE l.proposal_id = ANY ($1::bigint[])
ORDER BY l.proposal_id, l.created_at, l.id
