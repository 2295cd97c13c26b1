-- name: policy (a fragment, not a statement)
--
-- The refund policy of the contract as a chain of CTEs ending in "decisions":
-- one row per (proposal, component) that has a fee or a refund in the ledger,
-- with the rule that entitles it (first by precedence, ignoring the settle
-- delay), what was charged, what was refunded, and its class:
--   refund             owed, settled, missing: the job writes it
--   pending            owed and missing, but its event is inside the settle delay
--   missing_balance    owed and missing, but the charged account has no balance row
--   unexpected_refund  a refund exists that no rule entitles (or nothing was charged)
--   amount_mismatch    a refund exists whose amount differs from the charge
--   NULL               nothing to do
--
-- Every statement that decides what is owed includes this fragment, so the
-- policy is written once. Each table is filtered by proposal id with the same
-- predicate (the template call .In "col": a proposal-id range for sweeps, an id array for
-- apply and incremental runs, TRUE for the single-statement reference), so the
-- planner reads only the slice of every table that the batch covers.
-- The template call .Shard "col" keeps the accounts of one shard (TRUE when unsharded): a
-- freelancer's balance is only ever touched by one shard.
--
-- Parameters: $1 settle cutoff (events strictly before it are settled),
-- $2 eligible interaction kinds, $3 tos_removed enabled, $4 tos_removed refunds
-- the boost, $5 closed_without_hire enabled, $6 closed_without_hire refunds the
-- boost, $7 closed_without_hire refunds declined proposals, $8 boost_outbid
-- enabled. The filter's own parameters start at $9.
ledger AS (
    SELECT l.proposal_id,
           -sum(l.amount) FILTER (WHERE l.entry_type = 'proposal_fee')         AS base_charged,
           -sum(l.amount) FILTER (WHERE l.entry_type = 'boost_fee')            AS boost_charged,
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'proposal_fee')   AS base_account,
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'boost_fee')      AS boost_account,
           sum(l.amount) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'base')  AS base_refunded,
           sum(l.amount) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'boost') AS boost_refunded
    FROM connects_ledger l
    WHERE {{.In "l.proposal_id"}}
      AND l.entry_type IN ('proposal_fee', 'boost_fee', 'refund')
    GROUP BY l.proposal_id
),
touches AS (
    SELECT i.proposal_id,
           min(i.occurred_at) FILTER (WHERE i.kind = ANY ($2::text[])) AS first_eligible_at,
           min(i.occurred_at) FILTER (WHERE i.kind = 'declined')       AS first_declined_at
    FROM proposal_interactions i
    WHERE {{.In "i.proposal_id"}}
    GROUP BY i.proposal_id
),
facts AS (
    SELECT p.id AS proposal_id, p.job_id, p.freelancer_id, j.closed_at, a.ended_at,
           lg.base_charged, lg.boost_charged, lg.base_account, lg.boost_account,
           lg.base_refunded, lg.boost_refunded,
           $3::boolean AND j.status = 'removed' AND j.close_reason = 'tos_violation'
               AND j.closed_at IS NOT NULL                                  AS tos,
           $5::boolean AND j.status = 'closed' AND j.close_reason = 'no_hire'
               AND j.closed_at IS NOT NULL                                  AS no_hire,
           -- "not withdrawn before closed_at"; an unknown comparison counts as withdrawn
           coalesce(p.withdrawn_at IS NULL OR p.withdrawn_at >= j.closed_at, false) AS kept,
           coalesce(t.first_declined_at < j.closed_at, false)               AS declined,
           coalesce(t.first_eligible_at < j.closed_at, false)               AS touched_before_close,
           $8::boolean AND a.ended_at IS NOT NULL AND b.outcome = 'outbid' AND b.outbid_at IS NOT NULL
               AND NOT coalesce(t.first_eligible_at <= b.outbid_at, false)  AS outbid
    FROM ledger lg
    JOIN proposals p ON p.id = lg.proposal_id
    JOIN jobs j ON j.id = p.job_id
    LEFT JOIN touches t ON t.proposal_id = p.id
    LEFT JOIN (SELECT * FROM boost_bids WHERE {{.In "proposal_id"}}) b ON b.proposal_id = p.id
    LEFT JOIN boost_auctions a ON a.job_id = p.job_id
    WHERE {{.In "p.id"}}
),
entitled AS (
    SELECT f.proposal_id, f.job_id, c.component, c.account AS freelancer_id,
           c.charged, c.refunded, c.rule,
           CASE c.rule WHEN 'boost_outbid' THEN f.ended_at ELSE f.closed_at END AS event_at
    FROM facts f
    CROSS JOIN LATERAL (VALUES
        ('base',
         coalesce(f.base_charged, 0),
         f.base_refunded,
         coalesce(f.base_account, f.freelancer_id),
         CASE WHEN f.tos AND f.kept THEN 'tos_removed'
              WHEN f.no_hire AND f.kept AND ($7::boolean OR NOT f.declined) THEN 'closed_without_hire'
         END),
        ('boost',
         coalesce(f.boost_charged, 0),
         f.boost_refunded,
         coalesce(f.boost_account, f.freelancer_id),
         CASE WHEN f.tos AND f.kept AND $4::boolean THEN 'tos_removed'
              WHEN f.no_hire AND f.kept AND ($7::boolean OR NOT f.declined)
                   AND $6::boolean AND NOT f.touched_before_close THEN 'closed_without_hire'
              WHEN f.outbid THEN 'boost_outbid'
         END)
    ) AS c (component, charged, refunded, account, rule)
    WHERE (c.charged <> 0 OR c.refunded IS NOT NULL)
      AND {{.Shard "c.account"}}
),
decisions AS (
    SELECT e.*,
           CASE
               WHEN e.refunded IS NULL AND e.rule IS NOT NULL AND e.charged > 0 THEN
                   CASE
                       WHEN NOT (e.event_at < $1) THEN 'pending'
                       WHEN NOT EXISTS (SELECT 1 FROM connects_balances cb
                                        WHERE cb.freelancer_id = e.freelancer_id) THEN 'missing_balance'
                       ELSE 'refund'
                   END
               WHEN e.refunded IS NOT NULL AND (e.rule IS NULL OR e.charged <= 0) THEN 'unexpected_refund'
               WHEN e.refunded IS NOT NULL AND e.refunded <> e.charged THEN 'amount_mismatch'
           END AS class
    FROM entitled e
)
