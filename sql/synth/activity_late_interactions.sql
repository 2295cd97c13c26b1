-- name: ActivityLateInteractions :execrows
--
-- Late interactions: clients coming back during the day to proposals
-- submitted any time before it, $4 percent of all existing proposals picked by
-- hash (salt 63) over the whole id space, one interaction each of the seed's
-- kinds (salt 64) at a time within the day (salt 65). They change what is
-- owed only where an event of the day meets them, but every one makes its
-- proposal "changed" for an incremental run, scattered like real traffic
-- rather than in one dense range of new ids. Ids follow the highest
-- interaction id, in proposal order.
--
-- Parameters: $1 seed, $2 anchor, $3 span in seconds, $4 percent.
INSERT INTO proposal_interactions (id, proposal_id, kind, occurred_at)
SELECT (SELECT max(id) FROM proposal_interactions) + row_number() OVER (ORDER BY p.id), p.id,
       (ARRAY['impression', 'impression', 'impression', 'impression', 'impression',
              'impression', 'impression', 'impression', 'opened', 'opened',
              'opened', 'opened', 'opened', 'messaged', 'messaged',
              'shortlisted', 'archived', 'archived', 'declined', 'declined'])
           [1 + (hashint8extended(p.id * 64 + 64, $1) & 1073741823) % 20],
       greatest(p.submitted_at,
                $2::timestamptz - interval '1 second' * $3::float8
                    * (0.01 + 0.98 * (hashint8extended(p.id * 64 + 65, $1) & 1073741823)::float8 / 1073741824))
FROM proposals p
CROSS JOIN synth_base b
WHERE p.id <= b.proposal0
  AND (hashint8extended(p.id * 64 + 63, $1) & 1073741823) % 1000000 < 10000 * $4::float8
ORDER BY p.id
