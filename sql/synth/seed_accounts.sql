-- name: SeedAccounts :exec
--
-- Every freelancer's credits: one purchase 105 days before the anchor of a pack
-- (a multiple of 10) big enough for everything the seed charged that account
-- plus 10..80 left over (salt 60), and the free monthly grant of 10 Connects
-- 60 and 30 days before it; all shifted by up to a day per account (salt 61).
-- Balances therefore stay positive without any refund. The purchase is sized
-- from the fees, so accounts are written after them, with the ids that follow
-- the fee block (4P + 3 * (freelancer - 1) + 1..3, see fees.sql).
--
-- Parameters: $1 seed, $2 anchor, $3 freelancers, $4 proposals.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, idempotency_key, created_at)
SELECT 4 * $4::bigint + (f.id - 1) * 3 + f.n, f.id,
       CASE f.n WHEN 1 THEN 10 * ceil(greatest(coalesce(s.spent, 0) - 20, 0) / 10.0)::bigint
                            + 10 * (1 + (hashint8extended(f.id * 64 + 60, $1) & 1073741823) % 8)
                ELSE 10 END,
       CASE f.n WHEN 1 THEN 'purchase' ELSE 'grant' END,
       CASE f.n WHEN 1 THEN 'purchase:' || f.id || ':1' ELSE 'grant:' || f.id || ':' || (f.n - 1) END,
       $2::timestamptz - interval '1 second'
           * (CASE f.n WHEN 1 THEN 9072000 WHEN 2 THEN 5184000 ELSE 2592000 END
              - 86400 * (hashint8extended(f.id * 64 + 61, $1) & 1073741823)::float8 / 1073741824)
FROM (
    -- one row per ledger row, in id order: (freelancer, 1..3)
    SELECT k / 3 + 1 AS id, k % 3 + 1 AS n
    FROM generate_series(0::bigint, 3 * $3::bigint - 1) AS k
) f
LEFT JOIN (
    SELECT freelancer_id, -sum(amount) AS spent
    FROM connects_ledger
    WHERE entry_type IN ('proposal_fee', 'boost_fee')
    GROUP BY freelancer_id
) s ON s.freelancer_id = f.id
