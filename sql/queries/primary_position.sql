-- name: PrimaryPosition :one
--
-- The primary's clock and WAL position, read before the replica's: a replica
-- that has replayed up to this position has every transaction committed before
-- this clock reading.
SELECT now() AS now, pg_current_wal_lsn()::text AS lsn
