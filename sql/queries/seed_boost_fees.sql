-- name: SeedBoostFees :exec
--
-- The boost_fee rows of every bid outside a placebo auction: 1-3 rows (the
-- bid raised), each 1..25 Connects, keys boostfee:<proposal>:<n>. The first
-- is charged at submission; raises follow within the first tenth (per raise)
-- of the time until the bid was outbid, the auction ended, or the anchor.
-- Ids continue seed_fees.sql's block: fee slot 2..4 of the proposal.
--
-- Parameters: $1 seed, $2 anchor, $3 freelancers.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
SELECT 4 * $3::bigint + (p.id - 1) * 4 + 1 + r.n,
       p.freelancer_id,
       -(1 + (hashint8extended(p.id * 64 + 33 + r.n, $1) & 1073741823) % 25),
       'boost_fee', p.id, 'boost', 'boostfee:' || p.id || ':' || r.n,
       p.submitted_at + (coalesce(b.outbid_at, a.ended_at, $2::timestamptz) - p.submitted_at)
           * (0.1 * (r.n - 1) * (hashint8extended(p.id * 64 + 36 + r.n, $1) & 1073741823)::float8 / 1073741824)
FROM boost_bids b
JOIN proposals p ON p.id = b.proposal_id
JOIN boost_auctions a ON a.job_id = p.job_id
JOIN seed_jobs j ON j.id = p.job_id
CROSS JOIN LATERAL generate_series(1::bigint, 1 + (hashint8extended(p.id * 64 + 33, $1) & 1073741823) % 3) AS r (n)
WHERE NOT j.placebo
