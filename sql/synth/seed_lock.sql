-- name: SeedLock :exec
--
-- The seed owns the marketplace for its transaction: nobody writes between
-- the check that it is empty and the load (TRUNCATE would take this lock
-- anyway).
LOCK TABLE jobs, proposals, boost_auctions, boost_bids, proposal_interactions,
           connects_ledger, connects_balances, reconciler_refunds
IN ACCESS EXCLUSIVE MODE
