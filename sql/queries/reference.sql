-- name: Reference :one
--
-- The benchmark's reference: every missing refund written by one set-based
-- statement, the database's own limit for this work. The policy fragment is
-- rendered with the byAll filter (every proposal at once, no batches, no
-- round trips), the refunds go in under the job's idempotency key with
-- ON CONFLICT DO NOTHING, and only inserted rows move connects_balances, as
-- apply.sql does. It writes no audit rows and no run record: those are the
-- job's own bookkeeping, not part of the limit.
--
-- Parameters: $1-$8 the policy's (see policy.sql). Returns the refunds
-- written, the Connects they return, and the balances moved.
WITH {{template "policy.sql" .}},
ins AS (
    INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
    SELECT freelancer_id, charged, 'refund', proposal_id, component,
           'refund:' || proposal_id || ':' || component
    FROM decisions
    WHERE class = 'refund'
    ON CONFLICT DO NOTHING
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
