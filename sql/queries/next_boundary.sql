-- name: NextBoundary :one
--
-- Where the next full-sweep slice starts: the proposal id $2 proposals after
-- $1. Slices hold the same number of proposals however sparse the ids are,
-- so a sweep costs what the marketplace holds, not the span of its ids. An
-- index-only walk of the primary key; no row means the last slice.
SELECT id FROM proposals WHERE id >= $1 ORDER BY id OFFSET $2 LIMIT 1
