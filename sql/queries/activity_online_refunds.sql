-- name: ActivityOnlineRefunds :one
--
-- The marketplace's online refunds of the day, as in seed_online_refunds.sql:
-- the policy itself (policy.sql, rendered for the proposals of
-- activity_touched.sql, with the given rules and a cutoff far in the future)
-- says what is owed; the online path refunded all of it but $11 percent,
-- picked by hash (salts 51 base, 52 boost), which the job must find. Keys
-- online:<proposal>:<component>, credited to the charged account 5..180
-- seconds after the event (salt 56) and never after the anchor. Ids follow
-- the highest ledger id, in proposal order.
--
-- Returns how many refunds are owed and how many were written.
--
-- Parameters: $1-$8 the policy's, $9 seed, $10 anchor, $11 percent missing.
WITH {{template "policy.sql" .}},
owed AS (
    SELECT d.proposal_id, d.freelancer_id, d.component, d.charged, d.event_at,
           (hashint8extended(d.proposal_id * 64 + CASE d.component WHEN 'base' THEN 51 ELSE 52 END, $9) & 1073741823) % 100 AS missing_draw
    FROM decisions d
    WHERE d.class IN ('refund', 'pending', 'missing_balance')
),
written AS (
    SELECT o.*, row_number() OVER (ORDER BY o.proposal_id, o.component) AS n
    FROM owed o
    WHERE o.missing_draw >= $11
),
top AS (
    SELECT coalesce(max(id), 0) AS id FROM connects_ledger
),
ins AS (
    INSERT INTO connects_ledger (id, freelancer_id, amount, entry_type, proposal_id, component, idempotency_key, created_at)
    SELECT top.id + w.n, w.freelancer_id, w.charged, 'refund', w.proposal_id, w.component,
           'online:' || w.proposal_id || ':' || w.component,
           least(w.event_at + interval '1 second' * (5 + (hashint8extended(w.proposal_id * 64 + 56, $9) & 1073741823) % 175),
                 $10::timestamptz)
    FROM written w
    CROSS JOIN top
    ORDER BY w.n
    RETURNING amount
)
SELECT (SELECT count(*) FROM owed) AS owed,
       (SELECT count(*) FROM ins)  AS written
