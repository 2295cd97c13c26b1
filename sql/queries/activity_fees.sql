-- name: ActivityFees :execrows
--
-- The new proposals' fees, as in seed_fees.sql: the job's requirement as a
-- proposal_fee (fee:<proposal>:base) unless the proposal answered an
-- invitation (salt 20), and 1-3 boost_fee rows of 1..25 Connects for each bid
-- (boostfee:<proposal>:<n>, salts 33-36), raises later than the submission
-- (salts 38, 39). Ids are explicit: 4 per new proposal after the highest
-- ledger id the day started from.
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
SELECT f.ledger0 + (f.id - f.proposal0 - 1) * 4 + 1 + r.n,
       f.freelancer_id,
       CASE WHEN r.n = 0 THEN -f.fee
            ELSE -(1 + (hashint8extended(f.id * 64 + 33 + r.n, $1) & 1073741823) % 25)
       END,
       CASE WHEN r.n = 0 THEN 'proposal_fee' ELSE 'boost_fee' END,
       f.id,
       CASE WHEN r.n = 0 THEN 'base' ELSE 'boost' END,
       CASE WHEN r.n = 0 THEN 'fee:' || f.id || ':base' ELSE 'boostfee:' || f.id || ':' || r.n END,
       CASE WHEN r.n <= 1 THEN f.submitted_at
            ELSE f.submitted_at + (coalesce(f.outbid_at, f.ended_at, $2::timestamptz) - f.submitted_at)
                 * (0.1 * (r.n - 1) * (hashint8extended(f.id * 64 + 36 + r.n, $1) & 1073741823)::float8 / 1073741824)
       END
FROM (
    SELECT p.id, p.freelancer_id, p.submitted_at, bb.outbid_at, a.ended_at, j.fee, b.ledger0, b.proposal0,
           (hashint8extended(p.id * 64 + 20, $1) & 1073741823) % 100 >= 4 AS charged,
           CASE WHEN bb.proposal_id IS NULL THEN 0
                ELSE 1 + (hashint8extended(p.id * 64 + 33, $1) & 1073741823) % 3
           END AS raises
    FROM activity_jobs j
    CROSS JOIN activity_base b
    JOIN proposals p ON p.job_id = j.id
    LEFT JOIN boost_bids bb ON bb.proposal_id = p.id
    LEFT JOIN boost_auctions a ON a.job_id = p.job_id AND bb.proposal_id IS NOT NULL
) f
CROSS JOIN generate_series(0, 3) AS r (n)
WHERE CASE WHEN r.n = 0 THEN f.charged ELSE r.n <= f.raises END
ORDER BY 1
