-- name: SeedTruncate :exec
--
-- seed --force: empties the contract's tables and the job's own (its audit
-- rows reference the ledger, and its run records describe refunds that no
-- longer exist), and restarts the identity sequences, in the seed's own
-- transaction, so a seed that fails leaves the old data in place.
TRUNCATE jobs, proposals, boost_auctions, boost_bids, proposal_interactions,
         connects_ledger, connects_balances, reconciler_refunds, reconciler_refund_matches, reconciler_runs,
         reconciler_closed_period_entries, reconciler_closed_periods
RESTART IDENTITY CASCADE
