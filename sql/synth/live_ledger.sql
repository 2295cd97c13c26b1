-- name: LiveLedger :exec
--
-- The second statement of one live marketplace transaction: the purchase's
-- ledger row, so that the balance still equals the ledger sum.
--
-- Parameters: $1 account, $2 Connects bought, $3 idempotency key.
INSERT INTO connects_ledger (freelancer_id, amount, entry_type, idempotency_key)
VALUES ($1, $2, 'purchase', $3)
