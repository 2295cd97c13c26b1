-- name: SeedAnalyze :exec
--
-- Fresh statistics after a bulk load, so the job's first plans (and the
-- seed's own policy evaluation, which runs inside the load's transaction and
-- sees its rows) are made on the real sizes rather than on empty tables.
ANALYZE jobs, proposals, boost_auctions, boost_bids, proposal_interactions, connects_ledger, connects_balances
