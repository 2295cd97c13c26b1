-- name: SeedBalances :execrows
--
-- Every account's balance is the sum of its ledger rows, written once at the
-- end in one aggregate instead of being moved row by row.
INSERT INTO connects_balances (freelancer_id, balance)
SELECT freelancer_id, sum(amount)
FROM connects_ledger
GROUP BY freelancer_id
