-- name: SynthInteractions :execrows
--
-- What clients did with the planned jobs' proposals: 0-3 interactions per
-- proposal (30/45/20/5%, salt 40; 1.0 on average) at times after the
-- submission, most of them soon after it (u^3 of the time left until the
-- anchor), so some fall before and some after the job's close or the bid's
-- outbid_at. Kinds: impression 40% (counts for nothing), opened 25%, messaged
-- 10%, shortlisted 5%, archived 10%, declined 10%. A tenth of the
-- interactions of outbid proposals happen exactly at outbid_at (about 0.5% of
-- all): the policy's "at or before" edge. Salts 41-49: kind, time and
-- at-outbid for slots 0-2. On hired jobs the proposal that was hired also got
-- an offer_sent (slot 3) shortly before the close (salt 50).
--
-- Ids are explicit, 4 per proposal after the highest interaction id the
-- generator started from (synth_base), so they do not depend on the order
-- rows are produced in (proposal order, keeping index inserts at the right
-- edge); sequences.sql moves the identity sequence past them.
--
-- Parameters: $1 seed, $2 anchor.
INSERT INTO proposal_interactions (id, proposal_id, kind, occurred_at)
SELECT p.interaction0 + (p.id - p.proposal0) * 4 + s.slot, p.id,
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
           CASE WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 30 THEN 0
                WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 75 THEN 1
                WHEN (hashint8extended(p.id * 64 + 40, $1) & 1073741823) % 100 < 95 THEN 2
                ELSE 3
           END AS interactions
    FROM synth_jobs j
    CROSS JOIN synth_base b
    JOIN proposals p ON p.job_id = j.id
    LEFT JOIN boost_bids bb ON bb.proposal_id = p.id
) p
-- per proposal (a lateral call keeps the rows in proposal order): its slots
CROSS JOIN LATERAL generate_series(0, CASE WHEN p.offered THEN 3 ELSE p.interactions - 1 END) AS s (slot)
WHERE s.slot < p.interactions OR s.slot = 3
