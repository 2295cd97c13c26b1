-- name: Apply :many
--
-- Writes one batch of planned refunds in one statement, so that the refund
-- rows, the balance changes, the audit rows and the run's counters commit or
-- roll back together. The policy is evaluated again for exactly the planned
-- proposals (an index lookup each): a refund that is no longer owed, or whose
-- amount changed since the plan, is not written. ON CONFLICT DO NOTHING with no
-- target covers both the idempotency key and the one-refund-per-component
-- index, so a refund written meanwhile by anyone, or by this very batch before
-- a lost commit acknowledgement, is never written twice; only inserted rows
-- move balances.
--
-- Parameters after the policy's: $9 proposal ids, $10 components, $11 planned
-- Connects (parallel arrays), $12 run id.
WITH items AS (
    SELECT * FROM unnest($9::bigint[], $10::text[], $11::bigint[]) AS i (proposal_id, component, connects)
),
{{template "policy.sql" .}},
owed AS (
    SELECT d.proposal_id, d.job_id, d.freelancer_id, d.component, d.charged, d.rule
    FROM decisions d
    JOIN items i ON i.proposal_id = d.proposal_id AND i.component = d.component AND i.connects = d.charged
    WHERE d.class = 'refund'
),
ins AS (
    INSERT INTO connects_ledger (freelancer_id, amount, entry_type, proposal_id, component, idempotency_key)
    SELECT freelancer_id, charged, 'refund', proposal_id, component,
           'refund:' || proposal_id || ':' || component
    FROM owed
    ORDER BY proposal_id, component
    ON CONFLICT DO NOTHING
    RETURNING id, freelancer_id, proposal_id, component, amount
),
bal AS (
    UPDATE connects_balances b
    SET balance = b.balance + s.total
    FROM (SELECT freelancer_id, sum(amount) AS total FROM ins GROUP BY freelancer_id) s
    WHERE b.freelancer_id = s.freelancer_id
    RETURNING b.freelancer_id
),
audit AS (
    INSERT INTO reconciler_refunds (ledger_entry_id, run_id, proposal_id, job_id, freelancer_id, component, rule, connects)
    SELECT ins.id, $12, ins.proposal_id, o.job_id, ins.freelancer_id, ins.component, o.rule, ins.amount
    FROM ins
    JOIN owed o ON o.proposal_id = ins.proposal_id AND o.component = ins.component
    RETURNING ledger_entry_id, proposal_id, job_id, freelancer_id, component, rule, connects
),
-- Refunds of this batch that this very run already wrote: an earlier attempt
-- whose commit acknowledgement was lost. They are reported as written, not as
-- skipped (the snapshot predates this statement's own inserts, so nothing is
-- counted twice).
already AS (
    SELECT rr.ledger_entry_id, rr.proposal_id, rr.job_id, rr.freelancer_id, rr.component, rr.rule, rr.connects
    FROM items i
    JOIN reconciler_refunds rr ON rr.proposal_id = i.proposal_id AND rr.component = i.component
    WHERE rr.run_id = $12
),
progress AS (
    UPDATE reconciler_runs
    SET refunds_issued  = refunds_issued + (SELECT count(*) FROM ins),
        connects_issued = connects_issued + (SELECT coalesce(sum(amount), 0) FROM ins)
    WHERE id = $12
    RETURNING id
)
SELECT w.*,
       (SELECT count(*) FROM bal)                                 AS balances_updated,
       (SELECT count(DISTINCT freelancer_id) FROM ins)            AS balances_expected,
       (SELECT count(*) FROM progress)                            AS runs_updated
FROM (SELECT * FROM audit UNION ALL SELECT * FROM already) w
ORDER BY w.proposal_id, w.component
