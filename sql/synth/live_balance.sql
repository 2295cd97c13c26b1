-- name: LiveBalance :exec
--
-- The first statement of one live marketplace transaction (the benchmark's
-- load): a purchase of Connects moves the account's balance, locking its
-- row until the transaction commits; live_ledger.sql follows.
--
-- Parameters: $1 account, $2 Connects bought.
UPDATE connects_balances SET balance = balance + $2 WHERE freelancer_id = $1
