-- name: ExceptionsFind :many
--
-- discrepancies ack: the exceptions of one proposal component, of one kind
-- when $3 is not '' (the unique key's index). Open ones first: without a
-- kind, the command acknowledges the only open one, or asks which.
SELECT id, kind, state
FROM reconciler_exceptions
WHERE proposal_id = $1 AND component = $2 AND ($3 = '' OR kind = $3)
ORDER BY state = 'open' DESC, kind
