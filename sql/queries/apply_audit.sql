-- name: ApplyAudit :one
--
-- Records the refunds apply.sql just inserted, in the same transaction: one
-- audit row each (ledger entry, run, proposal, job, account, component, rule,
-- Connects) and the run's issued counters. The rows come from the program as
-- parallel arrays (what was inserted, with the planned job and rule, which
-- apply.sql checked against the policy), so no join is needed. Each refund
-- is matched here too (reconciler_refund_matches: the rule it was issued
-- under, 'refunded', this run and the fingerprint of its policy), so the
-- job's own refunds are matched in the transaction that writes them.
--
-- Parameters: $1 run id, $2 ledger entry ids, $3 proposal ids, $4 job ids,
-- $5 accounts, $6 components, $7 rules, $8 Connects.
WITH audit AS (
    INSERT INTO reconciler_refunds (ledger_entry_id, run_id, proposal_id, job_id, freelancer_id, component, rule, connects)
    SELECT e, $1, p, j, f, c, r, n
    FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[]) AS a (e, p, j, f, c, r, n)
    RETURNING ledger_entry_id, proposal_id, job_id, freelancer_id, component, rule, connects
),
matched AS (
    INSERT INTO reconciler_refund_matches (ledger_entry_id, proposal_id, component, job_id, freelancer_id, connects,
                                           entry_created_at, issued_by, rule, verdict, run_id, policy_fingerprint)
    SELECT a.ledger_entry_id, a.proposal_id, a.component, a.job_id, a.freelancer_id, a.connects,
           l.created_at, 'reconciler', a.rule, 'refunded', r.id,
           encode(sha256(convert_to(r.policy::text, 'UTF8')), 'hex')
    FROM audit a
    -- one primary-key lookup per refund (OFFSET 0: never a join over the ledger)
    JOIN LATERAL (SELECT ll.created_at FROM connects_ledger ll WHERE ll.id = a.ledger_entry_id OFFSET 0) l ON true
    JOIN reconciler_runs r ON r.id = $1
    RETURNING 1
)
UPDATE reconciler_runs
SET refunds_issued  = refunds_issued + (SELECT count(*) FROM audit),
    connects_issued = connects_issued + (SELECT coalesce(sum(connects), 0) FROM audit)
WHERE id = $1
RETURNING refunds_issued
