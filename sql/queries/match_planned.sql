-- name: MatchPlanned :one
--
-- Matches the refund entries the run's plan found (match_stage.sql), once,
-- to the verdict the plan reached on their component: the same policy
-- evaluation that planned the run, not a second one. The verdict is the one
-- match_refunds.sql gives an entry (TestPlannedMatchesAsMatchRefunds):
--   - the job's own refund (a reconciler_refunds row, written before matches
--     existed): the rule it was issued under, 'refunded', its run and that
--     run's policy;
--   - otherwise the policy's rule (none where nothing was charged) and
--     'refunded', or the discrepancy the policy found.
-- reconciler_refund_matches is append only and ON CONFLICT DO NOTHING keeps
-- the first match of an entry, whoever races for it (a tick matched it
-- since the plan, or a run recording at the same time). Entries are written
-- in id order, the order of the table's key.
--
-- Parameters: $1 run id.
WITH run AS (
    SELECT r.id, encode(sha256(convert_to(r.policy::text, 'UTF8')), 'hex') AS fingerprint
    FROM reconciler_runs r
    WHERE r.id = $1
),
ins AS (
    INSERT INTO reconciler_refund_matches (ledger_entry_id, proposal_id, component, job_id, freelancer_id, connects,
                                           entry_created_at, issued_by, rule, verdict, run_id, policy_fingerprint)
    SELECT f.ledger_entry_id, f.proposal_id, f.component, coalesce(rr.job_id, f.job_id), f.freelancer_id, f.connects,
           f.entry_created_at,
           CASE WHEN rr.ledger_entry_id IS NOT NULL THEN 'reconciler' ELSE 'online' END,
           CASE WHEN rr.ledger_entry_id IS NOT NULL THEN rr.rule
                WHEN f.charged > 0 THEN f.rule
                ELSE '' END,
           CASE WHEN rr.ledger_entry_id IS NOT NULL OR f.class = '' THEN 'refunded' ELSE f.class END,
           coalesce(rr.run_id, run.id),
           CASE WHEN rr.ledger_entry_id IS NOT NULL
                THEN (SELECT encode(sha256(convert_to(o.policy::text, 'UTF8')), 'hex') FROM reconciler_runs o WHERE o.id = rr.run_id)
                ELSE run.fingerprint END
    FROM reconciler_matches_found f
    CROSS JOIN run
    LEFT JOIN reconciler_refunds rr ON rr.ledger_entry_id = f.ledger_entry_id
    ORDER BY f.ledger_entry_id
    ON CONFLICT (ledger_entry_id) DO NOTHING
    RETURNING connects
)
SELECT count(*) AS matched, coalesce(sum(connects), 0) AS connects FROM ins
