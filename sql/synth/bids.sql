-- name: SynthBids :execrows
--
-- Boost bids in the planned jobs' auctions: 30% of the proposals that were not
-- invitations (4% are, salt 20, the draw fees.sql uses) and were submitted
-- before the auction ended (salt 30). When the auction has ended, 40% won and
-- 60% were outbid at a time between submission and the end; while it runs, a
-- quarter were already outbid (before the anchor), the rest are undecided
-- (salts 31, 32).
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO boost_bids (proposal_id, outcome, outbid_at)
SELECT b.id,
       CASE WHEN b.ended_at IS NOT NULL AND b.o_draw < 40 THEN 'won'
            WHEN b.ended_at IS NOT NULL OR b.o_draw < 25 THEN 'outbid'
       END,
       CASE WHEN b.ended_at IS NOT NULL AND b.o_draw < 40 THEN NULL
            WHEN b.ended_at IS NOT NULL OR b.o_draw < 25 THEN
                b.submitted_at + (coalesce(b.ended_at, $2::timestamptz) - b.submitted_at) * (0.05 + 0.9 * b.o_u)
       END
FROM (
    SELECT p.id, p.submitted_at, a.ended_at,
           (hashint8extended(p.id * 64 + 31, $1) & 1073741823) % 100 AS o_draw,
           (hashint8extended(p.id * 64 + 32, $1) & 1073741823)::float8 / 1073741824 AS o_u
    FROM synth_jobs j
    JOIN boost_auctions a ON a.job_id = j.id
    JOIN proposals p ON p.job_id = j.id
    WHERE (hashint8extended(p.id * 64 + 20, $1) & 1073741823) % 100 >= 4    -- not an invitation
      AND (hashint8extended(p.id * 64 + 30, $1) & 1073741823) % 100 < 30    -- boosted
      AND (a.ended_at IS NULL OR p.submitted_at < a.ended_at)
) b
ORDER BY b.id
