-- name: SeedOnlineRefunds :one
--
-- The marketplace's online refunds: the policy itself (policy.sql with the
-- default rules and a cutoff far in the future, rendered for the proposals of
-- seed_candidates.sql) says what is owed, and the online path is given to
-- have refunded all of it but $11 percent, picked by hash (salts 51 base,
-- 52 boost). Those stay missing for the reconciler to find. The policy is evaluated rather than re-derived
-- here so that the seed and the job can never disagree on what is owed.
-- Balances are written last (seed_balances.sql), so an owed refund is classed
-- missing_balance at this point; it counts as owed like refund and pending.
--
-- Online refunds are keyed online:<proposal>:<component>, credited to the
-- charged account a few seconds to minutes after the event (close or
-- auction end), never after the anchor. $12 of them, the first by hash (salts
-- 53/54), are planted amount_mismatch discrepancies: 1..3 Connects too many.
-- Ids: the refund block, 4P + 3F + 2 * (proposal - 1) + 1 (base) or 2 (boost),
-- written in proposal order.
--
-- Returns how many refunds are owed, how many were written, how many of those
-- are mismatched.
--
-- Parameters: $1-$8 the policy's, $9 seed, $10 anchor, $11 percent missing,
-- $12 mismatches to plant, $13 freelancers, $14 proposals.
WITH {{template "policy.sql" .}},
owed AS (
    SELECT d.proposal_id, d.freelancer_id, d.component, d.charged, d.event_at,
           (hashint8extended(d.proposal_id * 64 + CASE d.component WHEN 'base' THEN 51 ELSE 52 END, $9) & 1073741823) % 100 AS missing_draw
    FROM decisions d
    WHERE d.class IN ('refund', 'pending', 'missing_balance')
),
written AS (
    SELECT o.*,
           row_number() OVER (ORDER BY hashint8extended(o.proposal_id * 64 + CASE o.component WHEN 'base' THEN 53 ELSE 54 END, $9),
                                       o.proposal_id, o.component) AS mismatch_rank
    FROM owed o
    WHERE o.missing_draw >= $11
),
ins AS (
    INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
    SELECT 4 * $14::bigint + 3 * $13::bigint + 2 * (w.proposal_id - 1) + CASE w.component WHEN 'base' THEN 1 ELSE 2 END,
           w.freelancer_id,
           w.charged + CASE WHEN w.mismatch_rank <= $12
                            THEN 1 + (hashint8extended(w.proposal_id * 64 + 55, $9) & 1073741823) % 3 ELSE 0 END,
           'refund', w.proposal_id, w.component,
           'online:' || w.proposal_id || ':' || w.component,
           w.event_at + least(interval '1 second' * (5 + (hashint8extended(w.proposal_id * 64 + 56, $9) & 1073741823) % 175),
                              ($10::timestamptz - w.event_at) / 2)
    FROM written w
    ORDER BY w.proposal_id, w.component
    RETURNING amount
)
SELECT (SELECT count(*) FROM owed)                           AS owed,
       (SELECT count(*) FROM ins)                            AS written,
       (SELECT count(*) FROM written WHERE mismatch_rank <= $12) AS mismatched
