-- name: BalancesOff :one
--
-- How many accounts' balances differ from their ledger sums (0 on a
-- consistent ledger), for the benchmark's check after a run under load.
SELECT count(*)
FROM connects_balances b
FULL JOIN (SELECT freelancer_id, sum(amount) AS total FROM connects_ledger GROUP BY freelancer_id) l USING (freelancer_id)
WHERE b.balance IS DISTINCT FROM l.total
