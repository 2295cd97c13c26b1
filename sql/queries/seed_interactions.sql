-- name: SeedInteractions :exec
--
-- What clients did with proposals: 0-3 interactions per proposal (25/35/25/15%,
-- 1.3 on average) at times after the submission, most of them soon after it
-- (u^3 of the time left until the anchor), so some fall before and some after
-- the job's close or the bid's outbid_at. Kinds: impression 40% (counts for
-- nothing), opened 25%, messaged 10%, shortlisted 8%, archived 9%, declined 8%.
-- A tenth of the interactions of outbid proposals happen exactly at outbid_at
-- (about 0.5% of all): the policy's "at or before" edge. On hired jobs the
-- proposal that was hired also got an offer_sent shortly before the close.
--
-- Ids are explicit, proposal_id * 4 + slot (slot 3 is the offer), so they do
-- not depend on the order rows are produced in; Seed moves the identity
-- sequence past them afterwards.
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO proposal_interactions (id, proposal_id, kind, occurred_at)
SELECT i.proposal_id * 4 + i.slot, i.proposal_id,
       CASE WHEN i.k < 40 THEN 'impression'
            WHEN i.k < 65 THEN 'opened'
            WHEN i.k < 75 THEN 'messaged'
            WHEN i.k < 83 THEN 'shortlisted'
            WHEN i.k < 92 THEN 'archived'
            ELSE 'declined'
       END,
       CASE WHEN i.outbid_at IS NOT NULL AND i.at_outbid < 10 THEN i.outbid_at
            ELSE i.submitted_at + ($2::timestamptz - i.submitted_at) * (0.999 * power(i.t_u, 3))
       END
FROM (
    SELECT p.id AS proposal_id, p.submitted_at, b.outbid_at, s.slot,
           (hashint8extended(p.id * 64 + 41 + 3 * s.slot, $1) & 1073741823) % 100 AS k,
           (hashint8extended(p.id * 64 + 42 + 3 * s.slot, $1) & 1073741823)::float8 / 1073741824 AS t_u,
           (hashint8extended(p.id * 64 + 43 + 3 * s.slot, $1) & 1073741823) % 100 AS at_outbid
    FROM proposals p
    LEFT JOIN boost_bids b ON b.proposal_id = p.id
    CROSS JOIN LATERAL generate_series(0::bigint,
        CASE WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 25 THEN -1
             WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 60 THEN 0
             WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 85 THEN 1
             ELSE 2
        END) AS s (slot)
) i
UNION ALL
SELECT p.id * 4 + 3, p.id, 'offer_sent',
       p.submitted_at + (j.closed_at - p.submitted_at)
           * (0.9 + 0.1 * (hashint8extended(p.id * 64 + 50, $1) & 1073741823)::float8 / 1073741824)
FROM seed_jobs s
JOIN jobs j ON j.id = s.id
JOIN proposals p ON p.id = s.first + s.offer_index
WHERE s.close_reason = 'hired'
