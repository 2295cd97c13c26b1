-- name: SweepRecord :exec
--
-- Records a full sweep, in the transaction that closes its run record
-- (finish_run.sql runs first, so the run's status and finished_at are set):
-- one reconciler_sweeps row from the run's record, and one
-- reconciler_sweep_states row per state that the sweep's plan found (counted
-- while the plan was made, passed as four parallel arrays) or that has open
-- exceptions of the sweep's shard after it, aged at the plan's time. The
-- exceptions were recorded just before by the same run; the aggregate reads
-- only the partial index of open exceptions and probes each one's
-- acknowledgements by index. Finance reads these rows instead of planning
-- the marketplace again.
--
-- The shard predicate is the policy's own ({{.Shard "e.freelancer_id"}}), as
-- in exceptions_close.sql.
--
-- Parameters: $1 run id, $2 states, $3 counts, $4 Connects, $5 earliest
-- events (timestamptz text, '' for none).
WITH sweep AS (
    INSERT INTO reconciler_sweeps (run_id, shard, status, as_of, settle_cutoff, recorded_at)
    SELECT r.id, r.shard, r.status, r.as_of, r.settle_cutoff, r.finished_at
    FROM reconciler_runs r
    WHERE r.id = $1
    RETURNING run_id, as_of
), found AS (
    SELECT f.state, f.count, f.connects, nullif(f.oldest, '')::timestamptz AS oldest_event_at
    FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS f (state, count, connects, oldest)
), aging AS (
    SELECT e.kind AS state,
           count(*) AS open,
           count(*) FILTER (WHERE e.open_since < s.as_of - interval '7 days') AS older_7d,
           count(*) FILTER (WHERE e.open_since < s.as_of - interval '30 days') AS older_30d,
           count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM reconciler_exception_acks a
                                              WHERE a.exception_id = e.id AND a.acked_at >= e.open_since)) AS unacknowledged,
           min(e.open_since) AS oldest_open_since
    FROM sweep s
    JOIN reconciler_exceptions e ON e.state = 'open' AND e.open_since <= s.as_of
    WHERE {{.Shard "e.freelancer_id"}}
    GROUP BY e.kind
)
INSERT INTO reconciler_sweep_states (run_id, state, count, connects, oldest_event_at,
                                     open, older_7d, older_30d, unacknowledged, oldest_open_since)
SELECT s.run_id, coalesce(f.state, a.state), coalesce(f.count, 0), coalesce(f.connects, 0), f.oldest_event_at,
       coalesce(a.open, 0), coalesce(a.older_7d, 0), coalesce(a.older_30d, 0), coalesce(a.unacknowledged, 0),
       a.oldest_open_since
FROM found f
FULL JOIN aging a ON a.state = f.state
CROSS JOIN sweep s
