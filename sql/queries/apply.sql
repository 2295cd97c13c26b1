-- name: Apply :many
--
-- Writes one batch of planned refunds to the ledger; apply_audit.sql then
-- records them and apply_balances.sql moves the balances, in the same
-- transaction, so refund rows, audit rows, the run's counters and balance
-- changes commit or roll back together. The balances come last, just before
-- the commit: their rows are the ones the marketplace's own transactions
-- update, and they stay locked from that statement to the commit only. The
-- policy is evaluated again for exactly the planned proposals (primary-key
-- and index lookups only): a refund that is no longer owed, or whose amount
-- or rule changed since the plan, is not written. ON CONFLICT DO NOTHING with
-- no target covers both the idempotency key and the one-refund-per-component
-- index, so a refund written meanwhile by anyone, or by this very batch
-- before a lost commit acknowledgement, is never written twice; only
-- inserted rows move balances (the program sums them per account).
--
-- The audit rows are not written here: joining the inserted rows back to
-- what was planned inside one statement costs a nested loop over two CTE
-- scans (the planner cannot see their sizes), quadratic in the batch.
--
-- Parameters after the policy's: $2 proposal ids, $3 components, $4 planned
-- Connects, $5 planned rules (parallel arrays), $6 run id.
WITH items AS (
    SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS i (proposal_id, component, connects, rule)
),
{{template "policy.sql" .}},
owed AS (
    SELECT d.proposal_id, d.freelancer_id, d.component, d.charged
    FROM decisions d
    JOIN items i ON i.proposal_id = d.proposal_id AND i.component = d.component
                AND i.connects = d.charged AND i.rule = d.rule
    WHERE d.class = 'missing_refund'
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
-- Refunds of this batch that this very run already wrote: an earlier attempt
-- whose commit acknowledgement was lost. They are reported as written, not as
-- skipped (the snapshot predates this statement's own inserts, so nothing is
-- counted twice).
-- One index probe per item: the run's own audit rows may be a million.
already AS (
    SELECT rr.ledger_entry_id AS id, rr.freelancer_id, rr.proposal_id, rr.component, rr.connects AS amount
    FROM items i
    JOIN LATERAL (SELECT * FROM reconciler_refunds r
                  WHERE r.proposal_id = i.proposal_id AND r.component = i.component AND r.run_id = $6
                  OFFSET 0) rr ON true
)
SELECT w.id AS ledger_entry_id, w.freelancer_id, w.proposal_id, w.component, w.amount AS connects, w.inserted
FROM (SELECT *, true AS inserted FROM ins UNION ALL SELECT *, false FROM already) w
ORDER BY w.proposal_id, w.component
