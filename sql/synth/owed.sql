-- name: owed (a fragment, not a statement)
--
-- What the contract says is owed, written plainly and apart from the job's
-- policy (sql/queries/policy.sql), with the default rules: a CTE "owed", one
-- row per (proposal, component) that a rule entitles and that was charged,
-- with the account charged, the amount and the event that settles it. It
-- knows nothing of refunds already written (each statement that includes it
-- says what it does with them) and detects no defects: it is the limit the
-- job is measured against, and the seed's "online path", so that a mistake in
-- either the job's policy or this one shows as a difference in the benchmark.
--
-- For proposal P and component C (base: proposal_fee rows, boost: boost_fee
-- rows), charged = minus the sum of the fees, credited to the account charged;
-- the first rule that entitles C names the event:
--   1. tos_removed: job removed for tos_violation, P not withdrawn before
--      closed_at: base and boost; event closed_at.
--   2. closed_without_hire: job closed no_hire, P not withdrawn and not
--      declined before closed_at: base; boost too unless P received an
--      eligible interaction before closed_at; event closed_at.
--   3. boost_outbid: auction ended, bid outbid, no eligible interaction at or
--      before outbid_at: boost; event ended_at.
-- Owed when charged > 0 and the event is before the cutoff $1.
--
-- Interactions are aggregated once per proposal (first eligible, first
-- declined) and joined, rather than probed per row by correlated subqueries:
-- the set-based shape the database is fastest at. The template call .In "col"
-- restricts every table to some proposals (TRUE for the reference).
owed_fees AS (
    SELECT l.proposal_id,
           CASE l.entry_type WHEN 'proposal_fee' THEN 'base' ELSE 'boost' END AS component,
           min(l.freelancer_id) AS freelancer_id,
           -sum(l.amount) AS charged
    FROM connects_ledger l
    WHERE l.entry_type IN ('proposal_fee', 'boost_fee') AND {{.In "l.proposal_id"}}
    GROUP BY 1, 2
),
owed_touches AS (
    SELECT i.proposal_id,
           min(i.occurred_at) FILTER (WHERE i.kind IN ('opened', 'offer_sent', 'shortlisted', 'messaged', 'archived', 'declined')) AS first_eligible_at,
           min(i.occurred_at) FILTER (WHERE i.kind = 'declined') AS first_declined_at
    FROM proposal_interactions i
    WHERE {{.In "i.proposal_id"}}
    GROUP BY i.proposal_id
),
owed_rules AS (
    SELECT f.proposal_id, f.component, f.freelancer_id, f.charged, j.closed_at, a.ended_at,
           j.status = 'removed' AND j.close_reason = 'tos_violation'
               AND (p.withdrawn_at IS NULL OR p.withdrawn_at >= j.closed_at) AS tos_removed,
           j.status = 'closed' AND j.close_reason = 'no_hire'
               AND (p.withdrawn_at IS NULL OR p.withdrawn_at >= j.closed_at)
               AND NOT coalesce(t.first_declined_at < j.closed_at, false)
               AND (f.component = 'base' OR NOT coalesce(t.first_eligible_at < j.closed_at, false)) AS closed_without_hire,
           f.component = 'boost' AND a.ended_at IS NOT NULL AND b.outcome = 'outbid'
               AND NOT coalesce(t.first_eligible_at <= b.outbid_at, false) AS boost_outbid
    FROM owed_fees f
    JOIN proposals p ON p.id = f.proposal_id
    JOIN jobs j ON j.id = p.job_id
    LEFT JOIN owed_touches t ON t.proposal_id = f.proposal_id
    LEFT JOIN boost_bids b ON b.proposal_id = f.proposal_id
    LEFT JOIN boost_auctions a ON a.job_id = p.job_id
    WHERE f.charged > 0 AND {{.In "p.id"}}
),
owed AS (
    SELECT r.proposal_id, r.component, r.freelancer_id, r.charged,
           CASE WHEN r.tos_removed OR r.closed_without_hire THEN r.closed_at ELSE r.ended_at END AS event_at
    FROM owed_rules r
    WHERE (r.tos_removed OR r.closed_without_hire OR r.boost_outbid)
      AND CASE WHEN r.tos_removed OR r.closed_without_hire THEN r.closed_at ELSE r.ended_at END < $1
)
