-- name: SynthFees :execrows
--
-- Every fee the planned jobs' proposals paid, in one pass over them:
--   - the proposal_fee of each proposal that was not an invitation (4% are,
--     salt 20, and cost nothing): the job's requirement, or the new one for
--     proposals submitted after the job changed it; key fee:<proposal>:base;
--   - the boost_fee rows of each bid outside a placebo auction: 1-3 rows (the
--     bid raised, salt 33), each 1..25 Connects (salts 34-36); keys
--     boostfee:<proposal>:<n>. The first at submission, each raise within
--     the next tenth of the time until the bid was outbid, the auction
--     ended, or the anchor (salts 37-39).
-- All charged to the proposal's freelancer.
--
-- Ledger ids are explicit, so they do not depend on the order rows are
-- produced in: 4 per proposal after the highest ledger id the generator
-- started from (synth_base), base then up to three boost fees. Rows are
-- produced in proposal order, which keeps every index insert at its right
-- edge; sequences.sql moves the identity sequence past the ids afterwards.
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
    SELECT p.id, p.freelancer_id, p.submitted_at, bb.outbid_at, a.ended_at, b.ledger0, b.proposal0,
           (hashint8extended(p.id * 64 + 20, $1) & 1073741823) % 100 >= 4 AS charged,
           CASE WHEN bb.proposal_id IS NULL OR j.placebo THEN 0
                ELSE 1 + (hashint8extended(p.id * 64 + 33, $1) & 1073741823) % 3
           END AS raises,
           CASE WHEN j.fee_changed AND p.submitted_at >= j.change_at THEN j.new_fee ELSE j.fee END AS fee
    FROM synth_jobs j
    CROSS JOIN synth_base b
    JOIN proposals p ON p.job_id = j.id
    LEFT JOIN boost_bids bb ON bb.proposal_id = p.id
    LEFT JOIN boost_auctions a ON a.job_id = p.job_id AND bb.proposal_id IS NOT NULL
) f
-- per proposal (a lateral call keeps the rows in proposal order): fee slot 0
-- for the base fee unless it was an invitation, 1..raises for the boost
CROSS JOIN LATERAL generate_series(CASE WHEN f.charged THEN 0 ELSE 1 END, f.raises) AS r (n)
