-- name: policy (a fragment, not a statement)
--
-- The refund policy of the contract as a chain of CTEs ending in "decisions":
-- one row per (proposal, component) that has a fee or a refund in the ledger,
-- with the rule that entitles it (first by precedence, ignoring the settle
-- delay), what was charged, what was refunded, and its class:
--   missing_refund     owed, settled, missing: the job writes it
--   pending_refund     owed and missing, but its event is inside the settle delay
--   missing_balance    owed and missing, but the charged account has no balance row
--   unexpected_refund  a refund exists that no rule entitles (or nothing was
--                      charged); its rule is NULL, as no rule entitles it
--   wrong_account      a refund exists credited to another account than the
--                      one charged (whatever its amount); refunded_to names it
--   amount_mismatch    a refund exists whose amount differs from the charge
--   a defect kind      the data this component depends on is broken, so the
--                      job neither refunds nor judges it (see "defects" below)
--   NULL               nothing to do
--
-- Defects (hostile or broken data) are reported, never acted on:
--   unknown_proposal         ledger rows for a proposal that does not exist
--   unknown_job              a proposal whose job does not exist
--   invalid_job_state        a status/close_reason pair the contract does not
--                            know, or a closed/removed job without closed_at
--   future_timestamp         closed_at, ended_at or outbid_at after now()
--   positive_fee             a proposal_fee or boost_fee with a positive amount
--   mixed_accounts           one component's fees charged to several accounts
--   refund_without_component a refund entry whose component is not base/boost
--   outbid_without_time      a bid marked outbid with no outbid_at
--   invalid_bid_outcome      a bid outcome other than won/outbid
-- Job and ledger defects touch both components; bid defects only the boost.
--
-- "decisions" also carries reason and reason_also: the rule, the exclusion
-- that decided (open_job, hired, withdrawn, rule_off, ...) or the defect,
-- and for a boost the other rule's exclusion. Rendered for explain (the
-- filter's Explain: explain_facts.sql), it carries every other fact and
-- decision explain words, so explain decides nothing itself:
--   owed           a rule entitles it, something was charged, no defect
--   toggle         the setting, by name, that decided reason (the rule
--                  toggle that was off; refund_declined); toggle_also
--   close_covered  the job's close is one rules 1 and 2 cover
--   the times and states the words quote (closed_at, withdrawn_at, ...)
-- and "standing" adds state: the class, or refunded / not_owed where it is
-- NULL. Other statements are rendered without them: unread columns cost no
-- execution (every CTE is inlined and they are pruned), but planning
-- copies every column's expression through each layer (apply's statement
-- planned 2-3x slower with them, per batch). Every code in a THEN, ELSE or
-- coalesce default here needs words in reconcile/explain_words.go
-- (TestEveryPolicyCodeIsWorded).
--
-- Every statement that decides what is owed includes this fragment, so the
-- policy is written once. Each table is filtered by proposal id with the same
-- predicate (the template call .In "col": a proposal-id range for sweeps, an id array for
-- apply and incremental runs, TRUE for the single-statement reference), so the
-- planner reads only the slice of every table that the batch covers.
-- The template call .Shard "col" keeps the accounts of one shard (TRUE when unsharded): a
-- freelancer's balance is only ever touched by one shard.
--
-- Parameters: $1 the policy, one jsonb object (postgres.policyArgs: the
-- Policy's JSON fields and the settle cutoff), unpacked once in "params" and
-- read by name, so that a new toggle touches this file, the Policy type,
-- config, explain's words and a test case only (docs/architecture.md). The
-- filter's own parameters start at $2.
params AS (
    SELECT (p ->> 'cutoff')::timestamptz                                  AS cutoff,
           ARRAY(SELECT jsonb_array_elements_text(p -> 'eligible_interactions')) AS eligible,
           (p ->> 'tos_removed')::boolean                                 AS tos_removed,
           (p ->> 'tos_removed_boost')::boolean                           AS tos_removed_boost,
           (p ->> 'closed_without_hire')::boolean                         AS closed_without_hire,
           (p ->> 'closed_without_hire_boost')::boolean                   AS closed_without_hire_boost,
           (p ->> 'refund_declined')::boolean                             AS refund_declined,
           (p ->> 'boost_outbid')::boolean                                AS boost_outbid
    FROM (SELECT $1::jsonb AS p) s
),
ledger AS (
    SELECT l.proposal_id,
           -sum(l.amount) FILTER (WHERE l.entry_type = 'proposal_fee')         AS base_charged,
           -sum(l.amount) FILTER (WHERE l.entry_type = 'boost_fee')            AS boost_charged,
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'proposal_fee')   AS base_account,
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'boost_fee')      AS boost_account,
           sum(l.amount) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'base')  AS base_refunded,
           sum(l.amount) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'boost') AS boost_refunded,
           -- at most one refund per component (the contract's unique index),
           -- so min is the account it was credited to
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'base')  AS base_refunded_to,
           min(l.freelancer_id) FILTER (WHERE l.entry_type = 'refund' AND l.component = 'boost') AS boost_refunded_to,
           bool_or(l.amount > 0) FILTER (WHERE l.entry_type = 'proposal_fee')  AS base_positive_fee,
           bool_or(l.amount > 0) FILTER (WHERE l.entry_type = 'boost_fee')     AS boost_positive_fee,
           max(l.freelancer_id) FILTER (WHERE l.entry_type = 'proposal_fee')
               <> min(l.freelancer_id) FILTER (WHERE l.entry_type = 'proposal_fee') AS base_mixed,
           max(l.freelancer_id) FILTER (WHERE l.entry_type = 'boost_fee')
               <> min(l.freelancer_id) FILTER (WHERE l.entry_type = 'boost_fee')    AS boost_mixed,
           bool_or(l.component IS DISTINCT FROM 'base' AND l.component IS DISTINCT FROM 'boost')
               FILTER (WHERE l.entry_type = 'refund')                           AS stray_refund
    FROM connects_ledger l
    WHERE {{.In "l.proposal_id"}}
      AND l.entry_type IN ('proposal_fee', 'boost_fee', 'refund')
    GROUP BY l.proposal_id
),
touches AS (
    SELECT i.proposal_id,
           min(i.occurred_at) FILTER (WHERE i.kind = ANY ((SELECT eligible FROM params)::text[])) AS first_eligible_at,
           min(i.occurred_at) FILTER (WHERE i.kind = 'declined')       AS first_declined_at
           {{- if .Explain}},
           (array_agg(i.kind ORDER BY i.occurred_at, i.id)
               FILTER (WHERE i.kind = ANY ((SELECT eligible FROM params)::text[])))[1] AS first_eligible_kind
           {{- end}}
    FROM proposal_interactions i
    WHERE {{.In "i.proposal_id"}}
    GROUP BY i.proposal_id
),
facts AS (
    SELECT lg.proposal_id, coalesce(p.job_id, 0) AS job_id, p.freelancer_id, j.closed_at, a.ended_at,
           {{- if .Explain}}
           p.withdrawn_at, t.first_eligible_at, t.first_eligible_kind, t.first_declined_at,
           {{- end}}
           pr.cutoff, pr.tos_removed AS tos_on, pr.tos_removed_boost AS tos_boost_on,
           pr.closed_without_hire AS no_hire_on, pr.closed_without_hire_boost AS no_hire_boost_on,
           pr.refund_declined, pr.boost_outbid AS outbid_on,
           j.status AS job_status, j.close_reason, b.proposal_id IS NOT NULL AS has_bid, b.outcome AS bid_outcome,
           b.outbid_at, coalesce(t.first_eligible_at <= b.outbid_at, false) AS touched_by_knockout,
           j.status = 'removed' AND j.close_reason = 'tos_violation' AND j.closed_at IS NOT NULL AS removal,
           j.status = 'closed' AND j.close_reason = 'no_hire' AND j.closed_at IS NOT NULL AS no_hire_close,
           lg.base_charged, lg.boost_charged, lg.base_account, lg.boost_account,
           lg.base_refunded, lg.boost_refunded, lg.base_refunded_to, lg.boost_refunded_to,
           lg.base_positive_fee, lg.boost_positive_fee, lg.base_mixed, lg.boost_mixed,
           CASE
               WHEN p.id IS NULL THEN 'unknown_proposal'
               WHEN j.id IS NULL THEN 'unknown_job'
               WHEN NOT coalesce((j.status = 'open' AND j.close_reason IS NULL)
                    OR (j.status = 'closed' AND j.close_reason IN ('no_hire', 'hired', 'expired', 'inactivity')
                        AND j.closed_at IS NOT NULL)
                    OR (j.status = 'removed' AND j.close_reason = 'tos_violation' AND j.closed_at IS NOT NULL),
                    false) THEN 'invalid_job_state'
               WHEN j.closed_at > now() THEN 'future_timestamp'
               WHEN lg.stray_refund THEN 'refund_without_component'
           END AS proposal_defect,
           CASE
               WHEN b.outcome = 'outbid' AND b.outbid_at IS NULL THEN 'outbid_without_time'
               WHEN b.outcome NOT IN ('won', 'outbid') THEN 'invalid_bid_outcome'
               WHEN b.outbid_at > now() OR a.ended_at > now() THEN 'future_timestamp'
           END AS bid_defect,
           pr.tos_removed AND j.status = 'removed' AND j.close_reason = 'tos_violation'
               AND j.closed_at IS NOT NULL                                  AS tos,
           pr.closed_without_hire AND j.status = 'closed' AND j.close_reason = 'no_hire'
               AND j.closed_at IS NOT NULL                                  AS no_hire,
           -- "not withdrawn before closed_at"; an unknown comparison counts as withdrawn
           coalesce(p.withdrawn_at IS NULL OR p.withdrawn_at >= j.closed_at, false) AS kept,
           coalesce(t.first_declined_at < j.closed_at, false)               AS declined,
           coalesce(t.first_eligible_at < j.closed_at, false)               AS touched_before_close,
           pr.boost_outbid AND a.ended_at IS NOT NULL AND b.outcome = 'outbid' AND b.outbid_at IS NOT NULL
               AND NOT coalesce(t.first_eligible_at <= b.outbid_at, false)  AS outbid
    FROM ledger lg
    CROSS JOIN params pr
    LEFT JOIN proposals p ON p.id = lg.proposal_id AND {{.In "p.id"}}
    -- Jobs, bids and auctions: one primary-key lookup per proposal (OFFSET 0
    -- keeps the planner from turning a lookup back into a join over the whole
    -- table, which it otherwise picks on its poor estimates of the CTEs), so a
    -- batch reads what it covers, whatever the size of the marketplace.
    LEFT JOIN LATERAL (SELECT jj.id, jj.status, jj.close_reason, jj.closed_at
                       FROM jobs jj WHERE jj.id = p.job_id OFFSET 0) j ON true
    LEFT JOIN touches t ON t.proposal_id = lg.proposal_id
    LEFT JOIN LATERAL (SELECT bb.proposal_id, bb.outcome, bb.outbid_at FROM boost_bids bb WHERE bb.proposal_id = lg.proposal_id OFFSET 0) b ON true
    LEFT JOIN LATERAL (SELECT aa.ended_at FROM boost_auctions aa WHERE aa.job_id = p.job_id OFFSET 0) a ON true
),
components AS (
    -- One row per proposal and component. A plain cross join with CASE
    -- columns: a LATERAL VALUES list of per-row expressions costs several
    -- times more per row.
    SELECT f.proposal_id, f.job_id, c.component,
           CASE c.component WHEN 'base' THEN coalesce(f.base_charged, 0)
                ELSE coalesce(f.boost_charged, 0) END                           AS charged,
           CASE c.component WHEN 'base' THEN f.base_refunded ELSE f.boost_refunded END AS refunded,
           CASE c.component WHEN 'base' THEN f.base_refunded_to ELSE f.boost_refunded_to END AS refunded_to,
           CASE c.component WHEN 'base' THEN coalesce(f.base_account, f.freelancer_id, 0)
                ELSE coalesce(f.boost_account, f.freelancer_id, 0) END         AS freelancer_id,
           CASE c.component
               WHEN 'base' THEN
                   CASE WHEN f.tos AND f.kept THEN 'tos_removed'
                        WHEN f.no_hire AND f.kept AND (f.refund_declined OR NOT f.declined) THEN 'closed_without_hire'
                   END
               ELSE
                   CASE WHEN f.tos AND f.kept AND f.tos_boost_on THEN 'tos_removed'
                        WHEN f.no_hire AND f.kept AND (f.refund_declined OR NOT f.declined)
                             AND f.no_hire_boost_on AND NOT f.touched_before_close THEN 'closed_without_hire'
                        WHEN f.outbid THEN 'boost_outbid'
                   END
           END                                                                  AS rule,
           CASE c.component
               WHEN 'base' THEN coalesce(f.proposal_defect,
                   CASE WHEN f.base_positive_fee THEN 'positive_fee' WHEN f.base_mixed THEN 'mixed_accounts' END)
               ELSE coalesce(f.proposal_defect, f.bid_defect,
                   CASE WHEN f.boost_positive_fee THEN 'positive_fee' WHEN f.boost_mixed THEN 'mixed_accounts' END)
           END                                                                  AS defect,
           -- Why rules 1 and 2 (the job's close) do not entitle the
           -- component, and why rule 3 does not entitle the boost: reason
           -- codes for explain, computed here so that its words can never
           -- disagree with the policy. NULL: the rules do not exclude it.
           CASE
               WHEN f.job_status = 'open' THEN 'open_job'
               WHEN f.job_status = 'closed' AND f.close_reason = 'hired' THEN 'hired'
               WHEN f.job_status = 'closed' AND f.close_reason = 'expired' THEN 'expired'
               WHEN f.job_status = 'closed' AND f.close_reason = 'inactivity' THEN 'inactivity'
               WHEN f.removal THEN
                   CASE WHEN NOT f.tos_on THEN 'rule_off'
                        WHEN NOT f.kept THEN 'withdrawn'
                        WHEN c.component = 'boost' AND NOT f.tos_boost_on THEN 'rule_off' END
               WHEN f.no_hire_close THEN
                   CASE WHEN NOT f.no_hire_on THEN 'rule_off'
                        WHEN NOT f.kept THEN 'withdrawn'
                        WHEN f.declined AND NOT f.refund_declined THEN 'declined'
                        WHEN c.component = 'boost' AND NOT f.no_hire_boost_on THEN 'rule_off'
                        WHEN c.component = 'boost' AND f.touched_before_close THEN 'interaction_before_close' END
               ELSE 'no_rule'
           END                                                                  AS close_exclusion,
           CASE WHEN c.component = 'base' THEN NULL
                WHEN NOT f.has_bid THEN 'not_boosted'
                WHEN NOT f.outbid_on THEN 'rule_off'
                WHEN f.ended_at IS NULL THEN 'auction_running'
                WHEN f.bid_outcome = 'won' THEN 'bid_won'
                WHEN f.bid_outcome IS DISTINCT FROM 'outbid' OR f.outbid_at IS NULL THEN 'bid_undecided'
                WHEN f.touched_by_knockout THEN 'interaction_before_knockout'
           END                                                                  AS bid_exclusion,
           f.removal OR f.no_hire_close                                         AS close_covered,
           f.closed_at, f.ended_at, f.cutoff
           {{- if .Explain}},
           -- The setting, by name, that decided each exclusion (the toggle
           -- that was off) or, for refund_declined, the owed verdict of a
           -- proposal declined before the close (on): explain words it.
           CASE
               WHEN f.removal THEN
                   CASE WHEN NOT f.tos_on THEN 'tos_removed'
                        WHEN NOT f.kept THEN NULL
                        WHEN c.component = 'boost' AND NOT f.tos_boost_on THEN 'tos_removed_boost' END
               WHEN f.no_hire_close THEN
                   CASE WHEN NOT f.no_hire_on THEN 'closed_without_hire'
                        WHEN NOT f.kept THEN NULL
                        WHEN f.declined AND NOT f.refund_declined THEN 'refund_declined'
                        WHEN c.component = 'boost' AND NOT f.no_hire_boost_on THEN 'closed_without_hire_boost'
                        WHEN f.declined THEN 'refund_declined' END
           END                                                                  AS close_toggle,
           CASE WHEN c.component = 'boost' AND f.has_bid AND NOT f.outbid_on THEN 'boost_outbid' END AS bid_toggle,
           -- the facts explain's words quote, as the policy saw them
           f.job_status, f.close_reason, f.withdrawn_at, f.first_eligible_at, f.first_eligible_kind,
           f.first_declined_at, f.has_bid, f.bid_outcome, f.outbid_at
           {{- end}}
    FROM facts f
    CROSS JOIN (VALUES ('base'), ('boost')) AS c (component)
),
entitled AS (
    SELECT c.proposal_id, c.job_id, c.component, c.freelancer_id, c.charged, c.refunded, c.refunded_to, c.rule, c.defect,
           CASE c.rule WHEN 'boost_outbid' THEN c.ended_at ELSE c.closed_at END AS event_at, c.cutoff,
           -- reason: the rule that entitles the component, or the exclusion
           -- that decides it (for the boost, the close's when the close is
           -- one rules 1 and 2 cover or there is no bid, else the bid's);
           -- reason_also: for the boost, the other rule's exclusion.
           CASE WHEN c.defect IS NOT NULL THEN c.defect
                WHEN c.charged <= 0 THEN 'nothing_charged'
                WHEN c.rule IS NOT NULL THEN c.rule
                WHEN c.component = 'base' THEN coalesce(c.close_exclusion, 'no_rule')
                WHEN c.close_exclusion IS NULL AND c.bid_exclusion IS NULL THEN 'no_rule'
                {{template "boost_pick" "exclusion"}}
           END AS reason,
           {{template "boost_pick_also" "exclusion"}} AS reason_also
           {{- if .Explain}},
           -- the settings that decided reason and reason_also (same choice)
           CASE WHEN c.defect IS NOT NULL OR c.charged <= 0 THEN NULL
                WHEN c.rule IS NOT NULL THEN CASE c.rule WHEN 'closed_without_hire' THEN c.close_toggle END
                WHEN c.component = 'base' THEN c.close_toggle
                {{template "boost_pick" "toggle"}}
           END AS toggle,
           {{template "boost_pick_also" "toggle"}} AS toggle_also,
           c.close_covered, c.job_status, c.close_reason, c.closed_at, c.ended_at, c.withdrawn_at,
           c.first_eligible_at, c.first_eligible_kind, c.first_declined_at, c.has_bid, c.bid_outcome, c.outbid_at
           {{- end}}
    FROM components c
    WHERE (c.charged <> 0 OR c.refunded IS NOT NULL OR (c.defect IS NOT NULL AND c.component = 'base'))
      AND {{.Shard "c.freelancer_id"}}
),
decisions AS (
    SELECT e.proposal_id, e.job_id, e.component, e.freelancer_id, e.charged, e.refunded, e.refunded_to,
           e.defect, e.event_at, e.reason, e.reason_also,
           -- a rule is named only where one entitles the component: not on a
           -- refund of what was never charged (unexpected_refund below)
           CASE WHEN e.defect IS NULL AND e.refunded IS NOT NULL AND e.charged <= 0 THEN NULL
                ELSE e.rule END AS rule,
           CASE
               WHEN e.defect IS NOT NULL THEN e.defect
               WHEN e.refunded IS NULL AND e.rule IS NOT NULL AND e.charged > 0 THEN
                   CASE
                       WHEN NOT (e.event_at < e.cutoff) THEN 'pending_refund'
                       -- a scalar count, not EXISTS: evaluated only for owed
                       -- rows, one index lookup each, never a hash of every balance
                       WHEN (SELECT count(*) FROM connects_balances cb
                             WHERE cb.freelancer_id = e.freelancer_id) = 0 THEN 'missing_balance'
                       ELSE 'missing_refund'
                   END
               WHEN e.refunded IS NOT NULL AND (e.rule IS NULL OR e.charged <= 0) THEN 'unexpected_refund'
               WHEN e.refunded IS NOT NULL AND e.refunded_to <> e.freelancer_id THEN 'wrong_account'
               WHEN e.refunded IS NOT NULL AND e.refunded <> e.charged THEN 'amount_mismatch'
           END AS class
           {{- if .Explain}},
           e.defect IS NULL AND e.rule IS NOT NULL AND e.charged > 0 AS owed,
           e.toggle, e.toggle_also, e.close_covered, e.job_status, e.close_reason, e.closed_at, e.ended_at,
           e.withdrawn_at, e.first_eligible_at, e.first_eligible_kind, e.first_declined_at, e.has_bid,
           e.bid_outcome, e.outbid_at
           {{- end}}
    FROM entitled e
)
{{- if .Explain}},
-- Where each component stands, for explain: the class, or refunded (owed and
-- refunded in full to the account charged) or not_owed (nothing owed,
-- nothing refunded) where there is nothing to do. Only in explain's
-- rendering: a second reference to decisions materializes it.
standing AS (
    SELECT d.*,
           coalesce(d.class, CASE WHEN d.refunded IS NOT NULL THEN 'refunded' ELSE 'not_owed' END) AS state
    FROM decisions d
)
{{- end}}
{{/* The boost's choice between its two rules' exclusions (boost_pick, the
last branches of a CASE: the close's when the close is one rules 1 and 2
cover or there is no bid, else the bid's) and the other one
(boost_pick_also, a whole CASE), given which of the close's and the bid's
columns to return: "exclusion" for reason and reason_also, "toggle" for the
setting that decided them (toggle, toggle_also), so the two make the same
choice. Fragments: this file renders nothing more. */ -}}
{{define "boost_pick"}}WHEN c.close_exclusion IS NULL THEN c.bid_{{.}}
                WHEN c.bid_exclusion IS NULL OR c.close_covered OR c.bid_exclusion = 'not_boosted' THEN c.close_{{.}}
                ELSE c.bid_{{.}}{{end -}}
{{define "boost_pick_also"}}CASE WHEN c.defect IS NOT NULL OR c.charged <= 0 OR c.rule IS NOT NULL OR c.component = 'base'
                     OR c.close_exclusion IS NULL OR c.bid_exclusion IS NULL THEN NULL
                WHEN c.close_covered OR c.bid_exclusion = 'not_boosted' THEN c.bid_{{.}}
                ELSE c.close_{{.}}
           END{{end -}}
