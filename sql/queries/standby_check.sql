-- name: StandbyCheck :one
--
-- Whether the server is a hot standby (in recovery): replica_database_url
-- must name one, so that planning there never reads a promoted standby or
-- the wrong server as if it were the primary's copy.
SELECT pg_is_in_recovery()
