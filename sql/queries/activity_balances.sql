-- name: ActivityBalances :execrows
--
-- Moves every account's balance by its ledger rows of the day (every id after
-- the highest one the day started from, read by primary key range), so that
-- each balance still equals its ledger sum; an account new to the ledger gets
-- its row.
INSERT INTO connects_balances (freelancer_id, balance)
SELECT l.freelancer_id, sum(l.amount)
FROM connects_ledger l
CROSS JOIN activity_base b
WHERE l.id > b.ledger0
GROUP BY l.freelancer_id
ON CONFLICT (freelancer_id) DO UPDATE SET balance = connects_balances.balance + excluded.balance
