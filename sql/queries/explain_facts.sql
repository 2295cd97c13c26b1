-- name: ExplainFacts :many
--
-- What the policy decides for each of the proposals $2, and every fact its
-- words quote: one row per proposal asked about and component. Every column
-- but the proposal's own (submitted_at, withdrawn_at, job, freelancer) comes
-- from the policy fragment's "standing" (policy.sql rendered byIDs with its
-- explain columns, and with the run's settle cutoff in $1): the rule, the
-- state (refunded and not_owed included), the reason code, the setting that decided it, the defect,
-- close_covered and the times, so explain can never disagree with the job
-- and decides nothing itself. The proposal is read with a LEFT JOIN and so
-- is the policy's row: ledger entries of a proposal that does not exist
-- (unknown_proposal) and a proposal whose job does not exist (unknown_job)
-- are explained like any other. A component with no policy row has no fee
-- and no refund (the fragment's rows are exactly those with either); a
-- proposal with neither a row nor a policy row does not exist.
--
-- Parameters: $1 the policy's, $2 proposal ids.
WITH {{template "policy.sql" .}},
asked AS (
    SELECT DISTINCT a.id FROM unnest($2::bigint[]) AS a (id)
)
SELECT x.id                                    AS proposal_id,
       c.component,
       p.id IS NOT NULL                        AS known,
       s.proposal_id IS NOT NULL               AS decided,
       coalesce(p.job_id, s.job_id, 0)         AS job_id,
       coalesce(p.freelancer_id, 0)            AS freelancer_id,
       p.submitted_at,
       p.withdrawn_at,
       s.job_status,
       s.close_reason,
       s.closed_at,
       s.ended_at                              AS auction_ended_at,
       coalesce(s.has_bid, false)              AS has_bid,
       s.bid_outcome,
       s.outbid_at,
       s.first_eligible_at,
       s.first_eligible_kind,
       s.first_declined_at,
       coalesce(s.charged, 0)                  AS charged,
       s.refunded,
       coalesce(s.freelancer_id, p.freelancer_id, 0) AS account,
       s.refunded_to,
       s.rule,
       coalesce(s.owed, false)                 AS owed,
       s.state,
       s.defect,
       s.event_at,
       s.reason,
       s.reason_also,
       s.toggle,
       s.toggle_also,
       coalesce(s.close_covered, false)        AS close_covered
FROM asked x
CROSS JOIN (VALUES ('base'), ('boost')) AS c (component)
LEFT JOIN proposals p ON p.id = x.id
LEFT JOIN standing s ON s.proposal_id = x.id AND s.component = c.component
ORDER BY x.id, c.component
