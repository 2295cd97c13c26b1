-- name: Plan :many
--
-- Everything a run must act on or report for one slice of proposals: the
-- refunds to write, the ones still inside the settle delay, and the
-- discrepancies. Rows with nothing to say are filtered here, in the database,
-- so only the few interesting rows cross the wire.
--
-- With them, rendered with .Matches (an applying run's incremental slices,
-- and a full sweep's until one succeeded), the slice's refund entries no run
-- has matched (reconciler_refund_matches) and that are settled (created
-- before the cutoff): a refunded component's entry, one per
-- component (the contract's unique index). The policy evaluated here is their
-- verdict: the run writes these matches in the transaction that records its
-- exceptions (match_planned.sql), so match_refunds.sql evaluates the policy
-- again only for what no plan placed. match_entry_id is 0 on other rows;
-- class '' says the policy agrees with the refund (verdict 'refunded').
--
-- Shaped for both kinds of slice. One that finds nothing new reads the
-- slice's refunded components from the refund index alone and anti-joins
-- them to its matches by their (proposal_id, component) index, two index
-- ranges, then reads the entry of the few unmatched ones by key (OFFSET 0:
-- one probe each). A slice no run matched anything of (a ledger's first
-- sweep: every entry) reads its refund entries at once instead (a bitmap
-- scan, not a probe each). Either way the policy's own ledger scan stays
-- index-only (carrying each refund's id and created_at through it read the
-- heap and sorted the slice's ledger rows: +20% a slice at 1M), and the
-- decisions are tested against the few unmatched by a hashed subplan, not
-- joined one by one. A full sweep after a successful one renders without
-- .Matches: the slice's anti-join (+4% a slice at 1M) would find next to
-- nothing, and match_refunds.sql anti-joins the history anyway.
WITH {{template "policy.sql" .}}
{{- if .Matches}},
first AS MATERIALIZED (
{{- if .Ranged}}
    SELECT NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m WHERE {{.In "m.proposal_id"}}) AS sweep
{{- else}}
    -- An id slice (an incremental run's) probes its entries one by one. The
    -- EXISTS above over an id array was planned as a sequential scan of every
    -- match, each tested against the array one element at a time (a
    -- parameter array is not hashed): 11-17 s a slice at 5M proposals.
    SELECT false AS sweep
{{- end}}
),
unmatched AS MATERIALIZED (
    SELECT k.proposal_id, k.component, e.id, e.created_at
    FROM (SELECT r.proposal_id, r.component
          FROM connects_ledger r
          WHERE NOT (SELECT sweep FROM first)
            AND {{.In "r.proposal_id"}} AND r.entry_type = 'refund'
            AND NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m
                            WHERE m.proposal_id = r.proposal_id AND m.component = r.component)
          OFFSET 0) k
    JOIN LATERAL (SELECT r.id, r.created_at
                  FROM connects_ledger r
                  WHERE r.proposal_id = k.proposal_id AND r.component = k.component AND r.entry_type = 'refund'
                  OFFSET 0) e ON true
    WHERE e.created_at < (SELECT pr.cutoff FROM params pr)
    UNION ALL
    -- OFFSET 0: the cutoff is tested on the slice's entries; pushed into the
    -- scan, the planner also read the refund index by created_at, every
    -- entry of the history for each slice (a BitmapAnd)
    SELECT h.proposal_id, h.component, h.id, h.created_at
    FROM (SELECT r.proposal_id, r.component, r.id, r.created_at
          FROM connects_ledger r
          WHERE (SELECT sweep FROM first) AND {{.In "r.proposal_id"}} AND r.entry_type = 'refund'
          OFFSET 0) h
    WHERE h.created_at < (SELECT pr.cutoff FROM params pr)
),
found AS (
    SELECT d.*, u.id AS entry_id, u.created_at AS entry_at
    FROM decisions d
    LEFT JOIN unmatched u ON u.proposal_id = d.proposal_id AND u.component = d.component
    WHERE d.class IS NOT NULL
       OR (d.refunded IS NOT NULL AND (d.proposal_id, d.component) IN (SELECT uu.proposal_id, uu.component FROM unmatched uu))
)
SELECT proposal_id, job_id, freelancer_id, component, coalesce(rule, '') AS rule,
       charged, coalesce(refunded, 0) AS refunded, coalesce(refunded_to, 0) AS refunded_to, event_at,
       coalesce(class, '') AS class,
       coalesce(entry_id, 0) AS match_entry_id,
       entry_at              AS match_entry_at
FROM found
WHERE class IS NOT NULL OR entry_id IS NOT NULL
{{- else}}
SELECT proposal_id, job_id, freelancer_id, component, coalesce(rule, '') AS rule,
       charged, coalesce(refunded, 0) AS refunded, coalesce(refunded_to, 0) AS refunded_to, event_at,
       coalesce(class, '') AS class,
       0::bigint             AS match_entry_id,
       NULL::timestamptz     AS match_entry_at
FROM decisions
WHERE class IS NOT NULL
{{- end}}
ORDER BY proposal_id, component
