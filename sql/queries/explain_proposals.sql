-- name: ExplainProposals :many
--
-- A freelancer's most recent proposals (at most $2), for explain
-- --freelancer. Production wants an index on proposals (freelancer_id) for
-- this support lookup; without one it is a sequential scan of proposals.
SELECT id
FROM proposals
WHERE freelancer_id = $1
ORDER BY submitted_at DESC, id DESC
LIMIT $2
