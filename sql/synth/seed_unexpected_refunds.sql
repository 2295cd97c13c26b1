-- name: SeedUnexpectedRefunds :execrows
--
-- Planted unexpected_refund discrepancies: the online path refunded the base
-- fee of $3 proposals of hired jobs, which no rule entitles, for the full
-- charge, a few seconds after the close (never after the anchor; salt 58).
-- They are the first proposals of hired jobs by hash (salt 57) that paid a
-- base fee: the first 2 * $3 + 10 by hash are picked before the ledger is
-- read (by index, for those only), which leaves enough that paid a fee (4%
-- are invitations) without reading every hired proposal's fee. Ids follow
-- the highest ledger id (the online refunds'), in proposal order.
--
-- Parameters: $1 seed, $2 anchor, $3 how many.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
SELECT (SELECT max(id) FROM connects_ledger) + row_number() OVER (ORDER BY c.id),
       c.freelancer_id, c.charged, 'refund', c.id, 'base', 'online:' || c.id || ':base',
       c.closed_at + least(interval '1 second' * (5 + (hashint8extended(c.id * 64 + 58, $1) & 1073741823) % 55),
                           ($2::timestamptz - c.closed_at) / 2)
FROM (
    SELECT h.id, l.freelancer_id, -l.amount AS charged, h.closed_at
    FROM (
        SELECT p.id, j.closed_at, hashint8extended(p.id * 64 + 57, $1) AS draw
        FROM jobs j
        JOIN proposals p ON p.job_id = j.id
        WHERE j.close_reason = 'hired'
        ORDER BY draw, p.id
        LIMIT 2 * $3::bigint + 10
    ) h
    JOIN connects_ledger l ON l.proposal_id = h.id AND l.entry_type = 'proposal_fee'
    ORDER BY h.draw, h.id
    LIMIT $3
) c
ORDER BY c.id
