-- name: SynthSequences :exec
--
-- The generators write explicit ids into the two identity columns (so that they do
-- not depend on row order); the sequences must then start after them, or the
-- first refund the job writes would collide with a seeded row.
SELECT setval(pg_get_serial_sequence('connects_ledger', 'id'),
              coalesce((SELECT max(id) FROM connects_ledger), 0) + 1, false),
       setval(pg_get_serial_sequence('proposal_interactions', 'id'),
              coalesce((SELECT max(id) FROM proposal_interactions), 0) + 1, false)
