-- name: SeedTruncateEmpty :exec
--
-- Empties the marketplace tables that seed_occupied.sql found empty (and the
-- job's audit rows, necessarily empty since they reference the ledger): a
-- no-op for the data, but it gives the tables new files in this transaction,
-- so with wal_level = minimal PostgreSQL writes the load without WAL and
-- syncs the files at commit instead, several times less I/O. The job's run
-- records are kept.
TRUNCATE jobs, proposals, boost_auctions, boost_bids, proposal_interactions,
         connects_ledger, connects_balances, reconciler_refunds
RESTART IDENTITY
