-- name: SynthBalances :execrows
--
-- Moves every account's balance by the ledger rows the generator wrote (every
-- id after the highest one it started from, read by primary key range), in
-- one aggregate instead of row by row, so that each balance equals its ledger
-- sum; an account new to the ledger gets its row (for the seed, every one).
INSERT INTO connects_balances (freelancer_id, balance)
SELECT l.freelancer_id, sum(l.amount)
FROM connects_ledger l
CROSS JOIN synth_base b
WHERE l.id > b.ledger0
GROUP BY l.freelancer_id
ON CONFLICT (freelancer_id) DO UPDATE SET balance = connects_balances.balance + excluded.balance
