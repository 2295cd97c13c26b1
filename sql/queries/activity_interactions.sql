-- name: ActivityInteractions :execrows
--
-- What clients did with the new proposals, as in seed_interactions.sql: 0-3
-- interactions each (salt 40) of the seed's kinds (salts 41, 44, 47), soon
-- after the submission and before the anchor (salts 42, 45, 48), a tenth of
-- an outbid proposal's exactly at outbid_at (salts 43, 46, 49), and an
-- offer_sent to the hired proposal of a job hired today just before the close
-- (salt 50). Ids are explicit: 4 per new proposal after the highest
-- interaction id the day started from.
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO proposal_interactions (id, proposal_id, kind, occurred_at)
SELECT p.interaction0 + (p.id - p.proposal0 - 1) * 4 + s.slot + 1, p.id,
       CASE WHEN s.slot = 3 THEN 'offer_sent'
            ELSE (ARRAY['impression', 'impression', 'impression', 'impression', 'impression',
                        'impression', 'impression', 'impression', 'opened', 'opened',
                        'opened', 'opened', 'opened', 'messaged', 'messaged',
                        'shortlisted', 'archived', 'archived', 'declined', 'declined'])
                 [1 + (hashint8extended(p.id * 64 + 41 + 3 * s.slot, $1) & 1073741823) % 20]
       END,
       CASE WHEN s.slot = 3 THEN
                p.submitted_at + (p.closed_at - p.submitted_at)
                    * (0.9 + 0.1 * (hashint8extended(p.id * 64 + 50, $1) & 1073741823)::float8 / 1073741824)
            WHEN p.outbid_at IS NOT NULL AND (hashint8extended(p.id * 64 + 43 + 3 * s.slot, $1) & 1073741823) % 10 = 0
                THEN p.outbid_at
            ELSE p.submitted_at + ($2::timestamptz - p.submitted_at)
                * (0.999 * power((hashint8extended(p.id * 64 + 42 + 3 * s.slot, $1) & 1073741823)::float8 / 1073741824, 3))
       END
FROM (
    SELECT p.id, p.submitted_at, bb.outbid_at, j.closed_at, b.interaction0, b.proposal0,
           j.close_reason = 'hired' AND p.id = j.first + j.offer_index AS offered,
           CASE WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 25 THEN 0
                WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 60 THEN 1
                WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 85 THEN 2
                ELSE 3
           END AS interactions
    FROM activity_jobs j
    CROSS JOIN activity_base b
    JOIN proposals p ON p.job_id = j.id
    LEFT JOIN boost_bids bb ON bb.proposal_id = p.id
) p
CROSS JOIN generate_series(0, 3) AS s (slot)
WHERE CASE WHEN s.slot = 3 THEN p.offered ELSE s.slot < p.interactions END
ORDER BY 1
