-- name: Anchor :one
--
-- The database's clock to the second: where a generated day ends (Seed's and
-- Activity's anchor) when the caller gives none.
SELECT date_trunc('second', now())
