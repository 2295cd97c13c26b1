-- name: ReplicaPosition :one
--
-- What a hot standby has replayed: whether it is one at all, whether it has
-- replayed up to the primary's position $1, the commit time of the last
-- transaction it replayed (the primary's clock), and whether replay is paused.
SELECT pg_is_in_recovery() AS in_recovery,
       coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS caught_up,
       pg_last_xact_replay_timestamp() AS replayed_at,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused
