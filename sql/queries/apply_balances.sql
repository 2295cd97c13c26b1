-- name: ApplyBalances :many
--
-- Moves the balances of the refunds apply.sql just inserted, as the last
-- statement of the batch's transaction, so the rows stay locked only until
-- the commit that follows. Rows are locked in account order (one fixed order
-- for every batch). A row another transaction holds (the marketplace's own
-- path) is skipped, not waited for: the program rolls the batch back and
-- writes those accounts' refunds later. With .Wait (those refunds set aside,
-- written after the plan) the rows are waited for, up to the transaction's
-- lock_timeout (apply_lock.sql), after which the batch fails and is retried.
-- Returns the accounts whose balance moved.
--
-- Parameters: $1 accounts, $2 Connects to credit each (parallel arrays, one
-- entry per account).
WITH credit AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS c (freelancer_id, amount)
),
locked AS (
    SELECT b.freelancer_id
    FROM connects_balances b
    WHERE b.freelancer_id = ANY ($1::bigint[])
    ORDER BY b.freelancer_id
    FOR UPDATE{{if not .Wait}} SKIP LOCKED{{end}}
)
UPDATE connects_balances b
SET balance = b.balance + c.amount
FROM credit c
JOIN locked l ON l.freelancer_id = c.freelancer_id
WHERE b.freelancer_id = c.freelancer_id
RETURNING b.freelancer_id
