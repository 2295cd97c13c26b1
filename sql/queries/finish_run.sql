-- name: FinishRun :exec
--
-- Closes a run record. The issued counters were moved batch by batch; the
-- per-rule breakdown is derived from the audit rows, so it is true even for a
-- run that ends in failure half-way.
UPDATE reconciler_runs r
SET status = $2, finished_at = now(), error = nullif($3, ''), refunds_skipped = $4,
    issued_by_rule = coalesce((
        SELECT jsonb_object_agg(rule || '/' || component, jsonb_build_object('refunds', n, 'connects', c))
        FROM (SELECT rule, component, count(*) AS n, sum(connects) AS c
              FROM reconciler_refunds WHERE run_id = r.id GROUP BY rule, component) s
    ), '{}')
WHERE r.id = $1
