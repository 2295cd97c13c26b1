-- name: SeedAnalyzeFinal :exec
--
-- The last statistics, for the tables written after seed_analyze.sql: they
-- commit with the rows, so the job's first plans are made on the real sizes.
ANALYZE connects_ledger, connects_balances
