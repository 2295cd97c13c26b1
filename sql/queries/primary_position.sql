-- name: PrimaryPosition :one
--
-- The primary's clock and WAL position, read before the replica's: a replica
-- that has replayed up to this position has every transaction committed before
-- this clock reading.
SELECT now() AS now, pg_current_wal_insert_lsn()::text AS lsn
--
-- The insert position, not the write position: a transaction committed with
-- synchronous_commit off is visible before its commit record is written.
