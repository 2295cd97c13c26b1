-- name: MatchRefunds :one
--
-- Matches the refund entries of the ledger that no run matched yet and that
-- are settled (created before the run's settle cutoff) to the verdict the
-- policy reaches on them now, once: reconciler_refund_matches is append only
-- and ON CONFLICT DO NOTHING keeps the first match of an entry, whoever
-- races for it. Run in the transaction that records the run's exceptions,
-- so a run that dies leaves no match behind, and the next run matches.
--
-- Which entries: those created in [$2, $3) with no match. A full sweep
-- passes -infinity (every entry of the history no run matched: its own
-- anti-join over the refunds); an incremental run the start of its event
-- windows (its watermark less the lookback), so a tick costs what arrived.
-- An entry committed later than that with an older created_at waits for the
-- daily full sweep, and the coverage metric counts it meanwhile.
--
-- The verdict, per entry:
--   - the job's own refund (a reconciler_refunds row, written before matches
--     existed): the rule it was issued under, 'refunded', its run and that
--     run's policy;
--   - otherwise the policy's decision on the component, evaluated for exactly
--     the proposals of these entries: its rule (none where nothing was
--     charged) and 'refunded' or the discrepancy kind;
--   - an entry the policy cannot place (no proposal, a component that is not
--     base or boost): no rule, unknown_proposal or refund_without_component.
-- A sharded run matches only its shard's components (the policy's shard
-- filter on the account charged; the account credited for entries with no
-- component), so shards never match the same entry.
--
-- Parameters after the policy's: $2 from, $3 the settle cutoff, $4 run id.
WITH todo AS MATERIALIZED (
    SELECT l.id, l.proposal_id, l.component, l.freelancer_id, l.amount, l.created_at
    FROM connects_ledger l
    WHERE l.entry_type = 'refund'
      AND l.created_at >= $2 AND l.created_at < $3
      AND NOT EXISTS (SELECT 1 FROM reconciler_refund_matches m WHERE m.ledger_entry_id = l.id)
),
{{template "policy.sql" .}},
-- The policy evaluated once for todo's proposals. Left inline, the planner
-- (which sees a fresh window of the ledger as one row) put the whole policy
-- on the inner side of a nested loop over todo: evaluated again for every
-- entry, minutes for a day's few thousand at 1M proposals.
verdicts AS MATERIALIZED (
    SELECT d.proposal_id, d.component, d.job_id, d.charged, d.rule, d.class FROM decisions d
),
runs AS (
    SELECT r.id, encode(sha256(convert_to(r.policy::text, 'UTF8')), 'hex') AS fingerprint
    FROM reconciler_runs r
    WHERE r.id = $4 OR r.id IN (SELECT rr.run_id FROM reconciler_refunds rr JOIN todo t ON rr.ledger_entry_id = t.id)
),
matched AS (
    SELECT t.id, t.proposal_id, t.component, t.freelancer_id, t.amount, t.created_at,
           coalesce(rr.job_id, d.job_id, 0) AS job_id,
           CASE WHEN rr.ledger_entry_id IS NOT NULL THEN 'reconciler' ELSE 'online' END AS issued_by,
           CASE WHEN rr.ledger_entry_id IS NOT NULL THEN rr.rule
                WHEN d.charged > 0 THEN coalesce(d.rule, '')
                ELSE '' END AS rule,
           CASE WHEN rr.ledger_entry_id IS NOT NULL THEN 'refunded'
                WHEN d.proposal_id IS NOT NULL THEN coalesce(d.class, 'refunded')
                WHEN t.proposal_id IS NULL THEN 'unknown_proposal'
                ELSE 'refund_without_component' END AS verdict,
           coalesce(rr.run_id, $4) AS run_id
    FROM todo t
    LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = t.id
    LEFT JOIN verdicts d ON d.proposal_id = t.proposal_id AND d.component = t.component
    WHERE CASE WHEN t.proposal_id IS NULL OR t.component IS NULL OR t.component NOT IN ('base', 'boost')
               THEN {{.Shard "t.freelancer_id"}}
               ELSE d.proposal_id IS NOT NULL END
),
-- the highest ledger id this statement's snapshot holds: the coverage
-- metric counts the entries above a full sweep's (refund_coverage.sql)
mark AS (
    UPDATE reconciler_runs SET ledger_high_water = (SELECT max(l.id) FROM connects_ledger l)
    WHERE id = $4
    RETURNING 1
),
ins AS (
    INSERT INTO reconciler_refund_matches (ledger_entry_id, proposal_id, component, job_id, freelancer_id, connects,
                                           entry_created_at, issued_by, rule, verdict, run_id, policy_fingerprint)
    SELECT m.id, m.proposal_id, m.component, m.job_id, m.freelancer_id, m.amount, m.created_at,
           m.issued_by, m.rule, m.verdict, m.run_id, r.fingerprint
    FROM matched m
    JOIN runs r ON r.id = m.run_id
    ORDER BY m.id
    ON CONFLICT (ledger_entry_id) DO NOTHING
    RETURNING connects
)
SELECT count(*) AS matched, coalesce(sum(connects), 0) AS connects FROM ins
