-- name: SeedUnexpectedRefunds :execrows
--
-- Planted unexpected_refund discrepancies: the online path refunded the base
-- fee of $3 proposals of hired jobs, which no rule entitles (the first by hash,
-- salt 57, among hired jobs' charged proposals), for the full charge, a few
-- seconds after the close (never after the anchor). Ids: the proposal's base
-- slot of the refund block, which is free since a hired job's base fee is
-- never owed.
--
-- Parameters: $1 seed, $2 anchor, $3 how many, $4 freelancers, $5 proposals.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
SELECT 4 * $5::bigint + 3 * $4::bigint + 2 * (c.id - 1) + 1,
       c.freelancer_id, c.charged, 'refund', c.id, 'base', 'online:' || c.id || ':base',
       c.closed_at + least(interval '1 second' * (5 + (hashint8extended(c.id * 64 + 58, $1) & 1073741823) % 55),
                           ($2::timestamptz - c.closed_at) / 2)
FROM (
    SELECT p.id, l.freelancer_id, -l.amount AS charged, j.closed_at
    FROM jobs j
    JOIN proposals p ON p.job_id = j.id
    JOIN connects_ledger l ON l.proposal_id = p.id AND l.entry_type = 'proposal_fee'
    WHERE j.close_reason = 'hired'
    ORDER BY hashint8extended(p.id * 64 + 57, $1), p.id
    LIMIT $3
) c
