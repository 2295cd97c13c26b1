-- name: Backlog :one
--
-- Turns a seeded marketplace into the day after the online refund path failed
-- for a long time: $2 percent of the online path's refunds (keys online:...),
-- picked by hash of (proposal, component) (salts 61 base, 62 boost), never
-- happened. They are deleted with their balance change in one statement, so
-- every balance still equals its ledger sum; what they refunded is owed and
-- missing again, for the job (and the references) to write. A deleted planted
-- discrepancy simply is no discrepancy any more.
--
-- Parameters: $1 seed, $2 percent of online refunds taken away. Returns how
-- many were taken away.
WITH gone AS (
    DELETE FROM connects_ledger l
    WHERE l.entry_type = 'refund' AND l.idempotency_key LIKE 'online:%'
      AND (hashint8extended(l.proposal_id * 64 + CASE l.component WHEN 'base' THEN 61 ELSE 62 END, $1) & 1073741823) % 100000
          < 1000 * $2::float8
    RETURNING l.freelancer_id, l.amount
),
bal AS (
    UPDATE connects_balances b
    SET balance = b.balance - s.total
    FROM (SELECT freelancer_id, sum(amount) AS total FROM gone GROUP BY freelancer_id) s
    WHERE b.freelancer_id = s.freelancer_id
    RETURNING b.freelancer_id
)
SELECT (SELECT count(*) FROM gone) AS removed
