-- name: SeedAnalyze :exec
--
-- Statistics for the bulk-loaded tables, inside the load's transaction (where
-- ANALYZE counts and samples the transaction's own rows): the seed's policy
-- evaluation is then planned on the real sizes rather than on empty tables.
ANALYZE jobs, proposals, boost_auctions, boost_bids, proposal_interactions, connects_ledger
