-- name: SeedAccounts :exec
--
-- Every freelancer's credits: a free monthly grant of 10 Connects 90, 60 and
-- 30 days before the anchor, and one purchase 85 days before it of a pack
-- (multiples of 10) big enough for everything the seed charged that account,
-- plus 10..80 left over. Balances therefore stay positive without any refund.
-- The accounts are written after the fees because the purchase is sized from
-- them; their ids (block 1 .. 4F, see seed_fees.sql) still come first.
--
-- Parameters: $1 seed, $2 anchor, $3 freelancers.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, idempotency_key, created_at)
SELECT (f.id - 1) * 4 + e.n, f.id, e.amount, e.entry_type, e.key,
       $2::timestamptz - interval '1 second' * (e.off - f.shift)
FROM (
    SELECT g.id, coalesce(s.spent, 0) AS spent,
           86400 * (hashint8extended(g.id * 64 + 61, $1) & 1073741823)::float8 / 1073741824 AS shift,
           10 * (1 + (hashint8extended(g.id * 64 + 60, $1) & 1073741823) % 8) AS spare
    FROM generate_series(1::bigint, $3::bigint) AS g (id)
    LEFT JOIN (
        SELECT freelancer_id, -sum(amount) AS spent
        FROM connects_ledger
        WHERE entry_type IN ('proposal_fee', 'boost_fee')
        GROUP BY freelancer_id
    ) s ON s.freelancer_id = g.id
) f
CROSS JOIN LATERAL (VALUES
    (1, 'grant', 10, 'grant:' || f.id || ':1', 7776000),
    (2, 'purchase', 10 * ceil(greatest(f.spent - 30, 0) / 10.0)::bigint + f.spare, 'purchase:' || f.id || ':1', 7344000),
    (3, 'grant', 10, 'grant:' || f.id || ':2', 5184000),
    (4, 'grant', 10, 'grant:' || f.id || ':3', 2592000)
) AS e (n, entry_type, amount, key, off)
