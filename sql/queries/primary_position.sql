-- name: PrimaryPosition :one
--
-- The primary's clock and WAL position, read before the replica's: a replica
-- that has replayed up to this position has every transaction committed before
-- this clock reading.
--
-- The insert position, not the write position: a transaction committed with
-- synchronous_commit off is visible before its commit record is written.
--
-- The position is what there is to replay, not where the next record will
-- go: when nothing but a page header follows the last record (the insert
-- position sits in the first 40 bytes of a page: right after a WAL segment
-- switch, pg_switch_wal() or archive_timeout on an idle primary, and after a
-- record that ended at a page's end), it is the page's start, which is where
-- a standby's replay position stands once it has replayed that last record.
-- No record ends inside those bytes (a header is 24 or 40 bytes, a record at
-- least 24), so a standby at or past the page's start has replayed every
-- record before the insert position.
WITH p AS (
    SELECT pg_current_wal_insert_lsn() AS pos, current_setting('wal_block_size')::numeric AS page
)
SELECT now() AS now,
       (CASE WHEN (pos - '0/0'::pg_lsn) % page BETWEEN 1 AND 40
             THEN pos - (pos - '0/0'::pg_lsn) % page
             ELSE pos END)::text AS lsn
FROM p
