-- name: Reference :one
--
-- The benchmark's references: every missing refund written by one set-based
-- statement, INSERT ... SELECT ... WHERE NOT EXISTS, from a CTE "owed" (the
-- template call .Owed) of two kinds:
--   - the plain reference, the limit: the contract's three rules as owed.sql
--     states them, apart from the job's policy (no defect detection, no
--     classes, no batches, no round trips); parameter $1 the settle cutoff;
--   - the fragment reference: the job's own policy fragment, every proposal at
--     once, its decisions of class 'missing_refund' (owed_policy.sql); the policy's
--     parameters, passed by postgres.PolicyStatement.
-- The rest is the same text, so the two differ in what decides, nothing else.
-- A refund is missing when no refund entry exists for its (proposal,
-- component), whoever wrote it. Refunds go in under the job's idempotency key; only the inserted
-- rows move connects_balances, in the same statement. It writes no audit rows
-- and no run record: those are the job's own bookkeeping, not the limit.
--
-- Returns the refunds written, the Connects they return, and the balances
-- moved.
WITH {{.Owed}},
ins AS (
    INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
    SELECT o.freelancer_id, o.charged, 'refund', o.proposal_id, o.component,
           'refund:' || o.proposal_id || ':' || o.component
    FROM owed o
    WHERE NOT EXISTS (SELECT 1 FROM connects_ledger r
                      WHERE r.entry_type = 'refund' AND r.proposal_id = o.proposal_id AND r.component = o.component)
    RETURNING freelancer_id, amount
),
bal AS (
    UPDATE connects_balances b
    SET balance = b.balance + s.total
    FROM (SELECT freelancer_id, sum(amount) AS total FROM ins GROUP BY freelancer_id) s
    WHERE b.freelancer_id = s.freelancer_id
    RETURNING b.freelancer_id
)
SELECT (SELECT count(*) FROM ins)                  AS refunds,
       (SELECT coalesce(sum(amount), 0) FROM ins)  AS connects,
       (SELECT count(*) FROM bal)                  AS balances
