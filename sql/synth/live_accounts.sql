-- name: LiveAccounts :many
--
-- The accounts the benchmark's live load (the marketplace's own
-- transactions) buys Connects for: those with the most refunds missing, the
-- hot accounts of a backlog, which the job's apply batches credit. A missing
-- refund here is a proposal fee on a job closed without hire or removed for
-- a ToS violation with no refund of its base in the ledger: close enough to
-- the policy for choosing where the load falls.
--
-- Parameters: $1 how many accounts.
SELECT f.freelancer_id
FROM connects_ledger f
JOIN proposals p ON p.id = f.proposal_id
JOIN jobs j ON j.id = p.job_id
WHERE f.entry_type = 'proposal_fee'
  AND ((j.status = 'closed' AND j.close_reason = 'no_hire') OR (j.status = 'removed' AND j.close_reason = 'tos_violation'))
  AND NOT EXISTS (SELECT 1 FROM connects_ledger r
                  WHERE r.entry_type = 'refund' AND r.proposal_id = f.proposal_id AND r.component = 'base')
GROUP BY f.freelancer_id
ORDER BY count(*) DESC, f.freelancer_id
LIMIT $1
