-- name: ExplainFacts :many
--
-- What the policy looks at for each of the proposals $2, and what it decides,
-- one row per proposal and component. The verdict (rule, class) comes from the
-- policy fragment itself (rendered byIDs, evaluated with the run's settle
-- cutoff $1), and so does the reason code (the rule, or the exclusion that
-- decided it), so explain can never disagree with the job; the facts beside
-- it (job status, withdrawal, interactions, the boost bid) give the times the
-- caller's words quote. A component with no fee and no refund has no
-- decision row: nothing was charged.
--
-- Parameters: $1 the policy's, $2 proposal ids.
WITH {{template "policy.sql" .}}
SELECT p.id                                    AS proposal_id,
       p.job_id,
       p.freelancer_id,
       p.submitted_at,
       p.withdrawn_at,
       j.status                                AS job_status,
       coalesce(j.close_reason, '')            AS close_reason,
       j.closed_at,
       a.job_id IS NOT NULL                    AS has_auction,
       a.ended_at                              AS auction_ended_at,
       b.proposal_id IS NOT NULL               AS has_bid,
       coalesce(b.outcome, '')                 AS bid_outcome,
       b.outbid_at,
       t.first_eligible_at,
       coalesce((SELECT i.kind FROM proposal_interactions i
                 WHERE i.proposal_id = p.id AND i.kind = ANY ((SELECT eligible FROM params)::text[])
                 ORDER BY i.occurred_at, i.id LIMIT 1), '') AS first_eligible_kind,
       t.first_declined_at,
       c.component,
       coalesce(d.charged, 0)                  AS charged,
       d.refunded IS NOT NULL                  AS has_refund,
       coalesce(d.refunded, 0)                 AS refunded,
       coalesce(d.freelancer_id, p.freelancer_id) AS account,
       coalesce(d.rule, '')                    AS rule,
       coalesce(d.rule IS NOT NULL AND d.charged > 0, false) AS owed,
       coalesce(d.class, '')                   AS class,
       d.event_at,
       coalesce(d.reason, 'nothing_charged')   AS reason,
       coalesce(d.reason_also, '')             AS reason_also,
       coalesce(d.refunded_to, 0)              AS refunded_to
FROM proposals p
JOIN jobs j ON j.id = p.job_id
LEFT JOIN boost_auctions a ON a.job_id = p.job_id
LEFT JOIN boost_bids b ON b.proposal_id = p.id
LEFT JOIN touches t ON t.proposal_id = p.id
CROSS JOIN (VALUES ('base'), ('boost')) AS c (component)
LEFT JOIN decisions d ON d.proposal_id = p.id AND d.component = c.component
WHERE {{.In "p.id"}}
ORDER BY p.id, c.component
