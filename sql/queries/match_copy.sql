-- name: MatchCopy :copyfrom
--
-- Streams the plan's refund entries to match from its spool into the
-- temporary table of match_stage.sql (lib/pq's COPY FROM STDIN: one Exec per
-- row, one round trip per buffer, flat memory).
COPY reconciler_matches_found (ledger_entry_id, entry_created_at, proposal_id, component, job_id, freelancer_id,
                               connects, charged, rule, class) FROM STDIN
