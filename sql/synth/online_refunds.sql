-- name: SynthOnlineRefunds :one
--
-- The marketplace's online refunds, for the seed and for a day of activity:
-- the contract's rules (owed.sql, rendered for the proposals of
-- synth_candidates, cutoff $1 far in the future) say what is owed and not yet
-- refunded, and the online path is given to have refunded all of it but $4
-- percent, picked by hash (salts 51 base, 52 boost): those stay missing for
-- the reconciler to find. Using the plain rules rather than the job's policy
-- keeps the generators apart from the job; the benchmark checks that both
-- agree (the job writes exactly the missing refunds).
--
-- Online refunds are keyed online:<proposal>:<component>, credited to the
-- charged account a few seconds to minutes after the event (salt 56), never
-- after the anchor. $5 of them, the first by hash (salts 53/54), are planted
-- amount_mismatch discrepancies: 1..3 Connects too many (salt 55). Ids follow
-- the highest ledger id, in proposal order.
--
-- Returns how many refunds are owed, how many were written, how many of those
-- are mismatched.
--
-- Parameters: $1 cutoff, $2 seed, $3 anchor, $4 percent missing,
-- $5 mismatches to plant.
WITH {{template "owed.sql" .}},
missing AS (
    SELECT o.*,
           (hashint8extended(o.proposal_id * 64 + CASE o.component WHEN 'base' THEN 51 ELSE 52 END, $2) & 1073741823) % 100 AS missing_draw
    FROM owed o
    WHERE NOT EXISTS (SELECT 1 FROM connects_ledger r
                      WHERE r.entry_type = 'refund' AND r.proposal_id = o.proposal_id AND r.component = o.component)
),
written AS (
    SELECT m.*,
           row_number() OVER (ORDER BY hashint8extended(m.proposal_id * 64 + CASE m.component WHEN 'base' THEN 53 ELSE 54 END, $2),
                                       m.proposal_id, m.component) AS mismatch_rank
    FROM missing m
    WHERE m.missing_draw >= $4
),
top AS (
    SELECT coalesce(max(id), 0) AS id FROM connects_ledger
),
ins AS (
    INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
    SELECT top.id + row_number() OVER (ORDER BY w.proposal_id, w.component),
           w.freelancer_id,
           w.charged + CASE WHEN w.mismatch_rank <= $5
                            THEN 1 + (hashint8extended(w.proposal_id * 64 + 55, $2) & 1073741823) % 3 ELSE 0 END,
           'refund', w.proposal_id, w.component,
           'online:' || w.proposal_id || ':' || w.component,
           w.event_at + least(interval '1 second' * (5 + (hashint8extended(w.proposal_id * 64 + 56, $2) & 1073741823) % 175),
                              ($3::timestamptz - w.event_at) / 2)
    FROM written w
    CROSS JOIN top
    ORDER BY w.proposal_id, w.component
    RETURNING amount
)
SELECT (SELECT count(*) FROM missing)                        AS owed,
       (SELECT count(*) FROM ins)                            AS written,
       (SELECT count(*) FROM written WHERE mismatch_rank <= $5) AS mismatched
