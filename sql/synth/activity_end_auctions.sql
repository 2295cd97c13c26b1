-- name: ActivityEndAuctions :execrows
--
-- Ends the auctions activity_auction_ends.sql picked and decides their
-- undecided bids: half won, half outbid at a time between the submission and
-- the end (salts 31, 32). Bids already outbid keep their outcome.
--
-- Parameters: $1 seed.
WITH ended AS (
    UPDATE boost_auctions a
    SET ended_at = e.ended_at
    FROM activity_ended e
    WHERE a.job_id = e.job_id
    RETURNING a.job_id, a.ended_at
)
UPDATE boost_bids bb
SET outcome = CASE WHEN d.o_draw < 50 THEN 'won' ELSE 'outbid' END,
    outbid_at = CASE WHEN d.o_draw >= 50 THEN d.submitted_at + (d.ended_at - d.submitted_at) * (0.05 + 0.9 * d.o_u) END
FROM (
    SELECT p.id, p.submitted_at, e.ended_at,
           (hashint8extended(p.id * 64 + 31, $1) & 1073741823) % 100 AS o_draw,
           (hashint8extended(p.id * 64 + 32, $1) & 1073741823)::float8 / 1073741824 AS o_u
    FROM ended e
    JOIN proposals p ON p.job_id = e.job_id
) d
WHERE bb.proposal_id = d.id AND bb.outcome IS NULL
